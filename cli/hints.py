"""Where the notifications of one wake-up of watch say to look: job ids and job names.

Any session may send on pg_jobmon_alert, so a payload is no more than a hint: its job_id
and job_name say which rows of job_log and job_check_log to read again, and nothing
else of it is kept. Past MAX_HINTS different hints in one wake-up the rest are not even
decoded, and watch reads all of job_check_log instead: its work per wake-up then grows
with the failures in the log, never with the notifications sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

MAX_HINTS = 256
# job_id is a bigint: a larger number is no run, and would make the query fail.
_BIGINT_END = 2**63


@dataclass(frozen=True)
class Hint:
    """What one notification points at."""

    job_id: int | None
    job_name: str | None


class Hints:
    """The hints of one wake-up, each once."""

    def __init__(self, payloads: Iterable[str] = (), everything: bool = False) -> None:
        self.hints: set[Hint] = set()
        # Too many to follow one by one: read every name again.
        self.everything = everything
        self.heard = 0
        self.malformed = 0
        self.first_malformed = ""
        for payload in payloads:
            self.add(payload)

    def add(self, payload: str) -> None:
        self.heard += 1
        if self.everything:
            return
        hint = _hint(payload)
        if hint is None:
            self.malformed += 1
            self.first_malformed = self.first_malformed or payload[:80]
            return
        self.hints.add(hint)
        if len(self.hints) > MAX_HINTS:
            self.everything = True
            self.hints.clear()

    @property
    def job_ids(self) -> list[int]:
        return sorted({h.job_id for h in self.hints if h.job_id is not None})

    @property
    def names(self) -> set[str]:
        return {h.job_name for h in self.hints if h.job_name is not None}

    def unconfirmed(
        self,
        names_of: dict[int, str],
        events: Iterable[dict[str, Any]],
        reported: Callable[[int], bool],
    ) -> int:
        """How many hints neither led to one of ``events`` nor point at a run whose
        failure was reported already (a replay, or a change an earlier read found)."""
        events = list(events)
        ids = {event["job_id"] for event in events}
        changed = {event["job_name"] for event in events}

        def confirmed(hint: Hint) -> bool:
            if hint.job_id is not None and (hint.job_id in ids or reported(hint.job_id)):
                return True
            return bool({names_of.get(hint.job_id or 0), hint.job_name} & changed)

        return sum(not confirmed(hint) for hint in self.hints)


def _hint(payload: str) -> Hint | None:
    """The job id and name of a payload, each only if it can name a row; None when it
    names nothing."""
    try:
        decoded: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    job_id, name = decoded.get("job_id"), decoded.get("job_name")
    hint = Hint(job_id if _is_bigint(job_id) else None, name if _is_text(name) else None)
    return hint if hint != Hint(None, None) else None


def _is_bigint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < _BIGINT_END


def _is_text(value: Any) -> bool:
    """A str PostgreSQL can hold: no NUL, and no lone surrogate, which UTF-8 cannot encode."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
