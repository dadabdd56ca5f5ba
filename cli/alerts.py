"""The failure alerts of job_check_log as watch knows them, and the events of their changes.

watch hears each change on pg_jobmon_alert while connected. While it is not, it hears
nothing, so after each connection it compares what job_check_log holds with what it knew
and reports the difference as events marked "caught_up". A notification that the
comparison already accounted for (it committed between LISTEN and the read) is dropped,
so no change is reported twice.

Events are computed first and applied to the book only once delivered: a watch stopped
between two hooks has not counted as known what it never delivered (see cli/state.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable

# Alerts by job name: {job_name: {job_id: alert_code}}, the rows of job_check_log.
Known = dict[str, dict[int, int]]
Event = dict[str, Any]

FAILURE_EVENTS = ("raised", "escalated")
# The status the trigger gives a run whose failure it escalated.
ESCALATED = "ESCALATED"


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
    """The run reported with a caught-up "cleared": the name's latest good run."""

    job_id: int | None
    owner: str | None
    status: str | None


class AlertBook:
    """What watch has reported of job_check_log, by job name."""

    def __init__(self, known: Known | None = None) -> None:
        self.known: Known = known if known is not None else {}
        # (event, job_id) of what the last catch-up reported: its notification, read
        # after the rows, is dropped even where the state alone could not tell (a clear
        # and a new failure of one name, both between LISTEN and the read).
        self.caught: set[tuple[str, int | None]] = set()

    def catch_up(
        self,
        rows: Iterable[AlertRow],
        latest_run: Callable[[str], Run],
        cleared_text: str,
    ) -> list[Event]:
        """The events that turn what is known into ``rows``: first a "cleared" for each
        name none of whose known rows remains, then a "raised" (or "escalated") for each
        row not known yet, oldest run first. The book itself is not changed."""
        self.caught.clear()
        now: Known = {}
        by_id: dict[int, AlertRow] = {}
        for row in rows:
            now.setdefault(row.job_name, {})[row.job_id] = row.alert_code
            by_id[row.job_id] = row
        events: list[Event] = []
        # What each name is left with once its vanished rows are gone: the base of the
        # previous_alert_code and failures of the events that follow.
        base: dict[str, dict[int, int]] = {}
        for name in sorted(self.known):
            present = now.get(name, {})
            kept = {job_id: code for job_id, code in self.known[name].items() if job_id in present}
            if self.known[name] and not kept:
                run = latest_run(name)
                events.append(
                    _event(
                        "cleared",
                        job_id=run.job_id,
                        job_name=name,
                        owner=run.owner,
                        status=run.status,
                        alert_code=1,
                        alert_text=cleared_text,
                        previous_alert_code=max(self.known[name].values()),
                        failures=0,
                        caught_up=True,
                    )
                )
            base[name] = kept
        for job_id in sorted(by_id):
            row = by_id[job_id]
            seen = base.setdefault(row.job_name, {})
            if seen.get(job_id) == row.alert_code:
                continue
            previous = max(seen.values(), default=None)
            seen[job_id] = row.alert_code
            events.append(
                _event(
                    "escalated" if row.status == ESCALATED else "raised",
                    job_id=row.job_id,
                    job_name=row.job_name,
                    owner=row.owner,
                    status=row.status,
                    alert_code=row.alert_code,
                    alert_text=row.alert_text,
                    previous_alert_code=previous,
                    failures=len(seen),
                    caught_up=True,
                )
            )
        return events

    def replace(self, rows: Iterable[AlertRow]) -> None:
        """Know exactly ``rows``: after the events of catch_up() were delivered (they
        leave aside rows that vanished from a name that still has others)."""
        self.known = {}
        for row in rows:
            self.known.setdefault(row.job_name, {})[row.job_id] = row.alert_code

    def live(self, payload: Event) -> Event | None:
        """The event of a notification's payload, or None when already reported."""
        name = payload.get("job_name")
        event = payload.get("event")
        if not isinstance(name, str) or (event, payload.get("job_id")) in self.caught:
            return None
        if event == "cleared":
            if name not in self.known:
                return None
        elif event in FAILURE_EVENTS:
            job_id, code = payload.get("job_id"), payload.get("alert_code")
            if self.known.get(name, {}).get(job_id) == code:  # type: ignore[arg-type]
                return None
        else:
            return None
        return {**payload, "caught_up": False}

    def apply(self, event: Event) -> None:
        """Count a delivered event as known."""
        name = event["job_name"]
        if event["caught_up"]:
            self.caught.add((event["event"], event["job_id"]))
        if event["event"] == "cleared":
            self.known.pop(name, None)
        elif event["event"] in FAILURE_EVENTS:
            self.known.setdefault(name, {})[int(event["job_id"])] = int(event["alert_code"])


def _event(event: str, **fields: Any) -> Event:
    """An event with contract A's keys in its order, as NOTIFY sends them."""
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
