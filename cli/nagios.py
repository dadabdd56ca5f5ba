"""The output of a Nagios/Icinga plugin: a status line with performance data, then one
line per problem (the "long output"), and the exit status that goes with it.

See the Nagios plugin guidelines: `SERVICE STATE - text | 'label'=value[UOM];warn;crit;min;max`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

SERVICE = "PG_JOBMON"
# Exit statuses of a plugin; alert_code - 1 for the codes check_job_status() returns.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# check_job_status()'s statuses and levels, in the order of the performance data.
ALERT_STATUSES = ("FAILED_RUN", "MISSING", "RUNNING", "BLOCKED")
LEVELS = {2: "warning", 3: "critical"}
# Whitespace and control characters would break the one-line format; "|" starts the
# performance data.
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Problem:
    """One row of check_job_status()."""

    alert_code: int
    alert_status: str
    job_name: str | None
    alert_text: str

    def describe(self) -> str:
        if self.job_name is None:
            return clean(self.alert_text)
        return f"{clean(self.job_name)} ({clean(self.alert_status)}): {clean(self.alert_text)}"


class Unexpected(Exception):
    """An answer of check_job_status() that this plugin cannot map to a state."""


def clean(text: str) -> str:
    """``text`` on one line, without the performance data separator."""
    return _UNSAFE.sub(" ", text).replace("|", "/").strip()


def state_of(rows: Sequence[Problem]) -> int:
    """The plugin's exit status for check_job_status()'s rows, worst first."""
    if not rows:
        raise Unexpected("check_job_status() returned no row")
    codes = {row.alert_code for row in rows}
    if not codes <= {1, 2, 3}:
        raise Unexpected(f"check_job_status() returned alert code {max(codes)}, not 1, 2 or 3")
    return max(codes) - 1


def problems_of(rows: Sequence[Problem]) -> list[Problem]:
    """The rows that are problems: all but the all-clear row (alert code 1)."""
    return [row for row in rows if row.alert_code > 1]


def performance_data(problems: Sequence[Problem], oldest_missing: float | None) -> str:
    """Counts per status and per level, and the age in seconds of the oldest missing run
    (None: some job is missing but the age of none of them is known, shown as "U")."""
    fields = [
        f"{status.lower()}={sum(p.alert_status == status for p in problems)};;;0"
        for status in ALERT_STATUSES
    ]
    fields += [
        f"{level}={sum(p.alert_code == code for p in problems)};;;0"
        for code, level in LEVELS.items()
    ]
    if oldest_missing is None:
        fields.append("oldest_missing=U")
    else:
        fields.append(f"oldest_missing={_seconds(oldest_missing)}s;;;0")
    return " ".join(fields)


def report(rows: Sequence[Problem], oldest_missing: float | None) -> tuple[int, str]:
    """The exit status and the whole output for check_job_status()'s rows."""
    state = state_of(rows)
    problems = problems_of(rows)
    if problems:
        summary = problems[0].describe()
        if len(problems) > 1:
            summary += f" (and {len(problems) - 1} more)"
    else:
        summary = clean(rows[0].alert_text)
    lines = [status_line(state, summary, performance_data(problems, oldest_missing))]
    lines += [f"{STATES[p.alert_code - 1]}: {p.describe()}" for p in problems]
    return state, "\n".join(lines) + "\n"


def unknown(reason: str) -> tuple[int, str]:
    """The exit status and output of a check that got no answer: the reason why, on the
    status line, and in full below it when it has several lines."""
    lines = [status_line(UNKNOWN, clean(reason) or "no reason given")]
    details = [clean(line) for line in reason.strip().splitlines()]
    if len(details) > 1:
        lines += [line for line in details if line]
    return UNKNOWN, "\n".join(lines) + "\n"


def status_line(state: int, text: str, perfdata: str = "") -> str:
    line = f"{SERVICE} {STATES[state]} - {text}"
    return f"{line} | {perfdata}" if perfdata else line


def _seconds(value: float) -> str:
    if math.isnan(value) or value < 0:
        return "0"
    return str(int(value))
