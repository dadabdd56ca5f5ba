"""The failure alerts of job_check_log as watch knows them, and the events of their changes.

Every event is the difference between what job_check_log (with job_log) holds and what
watch had reported: after each connection, every --interval, and when a notification on
pg_jobmon_alert says which job to look at again. Any session may send on that channel,
so a notification is only a hint (cli/hints.py): nothing of its payload reaches a hook,
and a replay of what was reported already finds no difference.

Events are computed first and applied to the book only once delivered: a watch stopped
between two hooks has not counted as known what it never delivered (see cli/state.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Callable

# Alerts by job name: {job_name: {job_id: alert_code}}, the rows of job_check_log.
Known = dict[str, dict[int, int]]
Event = dict[str, Any]

FAILURE_EVENTS = ("raised", "escalated")
# The status the trigger gives a run whose failure it escalated.
ESCALATED = "ESCALATED"
# How many job ids of delivered events are remembered, to tell a replay from a forgery.
REMEMBERED = 1000


@dataclass(frozen=True)
class AlertRow:
    """One row of job_check_log, with its run's owner and status from job_log."""

    job_id: int
    job_name: str
    alert_code: int
    alert_text: str | None
    owner: str | None
    status: str | None


@dataclass(frozen=True)
class Run:
    """The run reported with a "cleared": the name's latest good run."""

    job_id: int | None
    owner: str | None
    status: str | None


class AlertBook:
    """What watch has reported of job_check_log, by job name."""

    def __init__(self, known: Known | None = None) -> None:
        self.known: Known = known if known is not None else {}
        # Job ids of the events delivered lately, oldest first (a dict keeps the order).
        self.reported: dict[int, None] = {}

    def catch_up(
        self,
        rows: Iterable[AlertRow],
        latest_run: Callable[[str], Run],
        cleared_text: str,
    ) -> list[Event]:
        """The events of every name, marked caught up: see changes()."""
        return self.changes(rows, latest_run, cleared_text)

    def changes(
        self,
        rows: Iterable[AlertRow],
        latest_run: Callable[[str], Run],
        cleared_text: str,
        names: Collection[str] | None = None,
        caught_up: bool = True,
    ) -> list[Event]:
        """The events that turn what is known of ``names`` (None: of every name) into
        ``rows``, their rows: first a "cleared" for each name none of whose known rows
        remains, then a "raised" (or "escalated") for each row not known yet, oldest run
        first. The book itself is not changed."""
        now: Known = {}
        by_id: dict[int, AlertRow] = {}
        for row in rows:
            now.setdefault(row.job_name, {})[row.job_id] = row.alert_code
            by_id[row.job_id] = row
        looked = (
            self.known if names is None else {n: self.known[n] for n in names if n in self.known}
        )
        events: list[Event] = []
        # What each name is left with once its vanished rows are gone: the base of the
        # previous_alert_code and failures of the events that follow.
        base: dict[str, dict[int, int]] = {}
        for name in sorted(looked):
            present = now.get(name, {})
            kept = {job_id: code for job_id, code in looked[name].items() if job_id in present}
            if looked[name] and not kept:
                events.append(
                    _cleared(name, latest_run(name), cleared_text, looked[name], caught_up)
                )
            base[name] = kept
        for job_id in sorted(by_id):
            row = by_id[job_id]
            seen = base.setdefault(row.job_name, {})
            if seen.get(job_id) == row.alert_code:
                continue
            previous = max(seen.values(), default=None)
            seen[job_id] = row.alert_code
            events.append(_failure(row, previous, len(seen), caught_up))
        return events

    def replace(self, rows: Iterable[AlertRow], names: Collection[str] | None = None) -> None:
        """Know exactly ``rows`` of ``names`` (None: of every name), after the events of
        changes() were delivered (they leave aside rows that vanished from a name that
        still has others)."""
        if names is None:
            self.known = {}
        else:
            for name in names:
                self.known.pop(name, None)
        for row in rows:
            self.known.setdefault(row.job_name, {})[row.job_id] = row.alert_code

    def apply(self, event: Event) -> None:
        """Count a delivered event as known."""
        name = event["job_name"]
        if event["event"] == "cleared":
            self.known.pop(name, None)
        elif event["event"] in FAILURE_EVENTS:
            self.known.setdefault(name, {})[int(event["job_id"])] = int(event["alert_code"])
        if event["job_id"] is not None:
            self.reported.pop(event["job_id"], None)
            self.reported[event["job_id"]] = None
            if len(self.reported) > REMEMBERED:
                del self.reported[next(iter(self.reported))]

    def was_reported(self, job_id: int) -> bool:
        """Whether ``job_id``'s failure is known, or was the run of a delivered event."""
        return job_id in self.reported or any(job_id in rows for rows in self.known.values())


def _cleared(name: str, run: Run, text: str, had: dict[int, int], caught_up: bool) -> Event:
    return _event(
        "cleared",
        job_id=run.job_id,
        job_name=name,
        owner=run.owner,
        status=run.status,
        alert_code=1,
        alert_text=text,
        previous_alert_code=max(had.values()),
        failures=0,
        caught_up=caught_up,
    )


def _failure(row: AlertRow, previous: int | None, failures: int, caught_up: bool) -> Event:
    return _event(
        "escalated" if row.status == ESCALATED else "raised",
        job_id=row.job_id,
        job_name=row.job_name,
        owner=row.owner,
        status=row.status,
        alert_code=row.alert_code,
        alert_text=row.alert_text,
        previous_alert_code=previous,
        failures=failures,
        caught_up=caught_up,
    )


def _event(event: str, **fields: Any) -> Event:
    """An event with contract A's keys in its order, as NOTIFY sends them. Every value
    was read from the tables in full: truncated is always false."""
    return {
        "event": event,
        "job_id": fields["job_id"],
        "job_name": fields["job_name"],
        "owner": fields["owner"],
        "status": fields["status"],
        "alert_code": fields["alert_code"],
        "alert_text": fields["alert_text"],
        "previous_alert_code": fields["previous_alert_code"],
        "failures": fields["failures"],
        "truncated": False,
        "caught_up": fields["caught_up"],
    }
