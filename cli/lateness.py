"""Late jobs: the MISSING, RUNNING and BLOCKED rows of check_job_status(), as events.

No trigger sees a job that does not run, so watch polls check_job_status() and reports
each problem (a job name and its alert_status) once when it appears, once when its alert
code changes (a warning become critical) and once when it clears. FAILED_RUN rows are
left out: the failures themselves come as notifications (cli/alerts.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

# (job_name, alert_status) -> alert_code
Problems = dict[tuple[str, str], int]
Event = dict[str, Any]
# Problem row: (alert_code, alert_status, job_name, alert_text), as check_job_status() has it.
Row = tuple[int, str, Optional[str], Optional[str]]

LATE_STATUSES = ("MISSING", "RUNNING", "BLOCKED")


class LatenessBook:
    """The late jobs watch has reported."""

    def __init__(self, known: Problems | None = None) -> None:
        self.known: Problems = known if known is not None else {}

    def compare(self, rows: Iterable[Row], cleared_text: str, caught_up: bool) -> list[Event]:
        """The events that turn what is known into ``rows``; the book is not changed."""
        now: dict[tuple[str, str], tuple[int, str]] = {}
        for code, status, name, text in rows:
            if status in LATE_STATUSES and name is not None:
                now[(name, status)] = (code, text or "")
        events: list[Event] = []
        for key in sorted(self.known.keys() - now.keys()):
            events.append(_event("cleared", key, 1, cleared_text, self.known[key], caught_up))
        for key in sorted(now):
            code, text = now[key]
            previous = self.known.get(key)
            if previous is None:
                events.append(_event("raised", key, code, text, None, caught_up))
            elif previous != code:
                events.append(_event("changed", key, code, text, previous, caught_up))
        return events

    def apply(self, event: Event) -> None:
        """Count a delivered event as known."""
        key = (event["job_name"], event["alert_status"])
        if event["event"] == "cleared":
            self.known.pop(key, None)
        else:
            self.known[key] = int(event["alert_code"])


def _event(
    event: str,
    key: tuple[str, str],
    code: int,
    text: str,
    previous: int | None,
    caught_up: bool,
) -> Event:
    return {
        "event": event,
        "job_name": key[0],
        "alert_status": key[1],
        "alert_code": code,
        "alert_text": text,
        "previous_alert_code": previous,
        "caught_up": caught_up,
    }
