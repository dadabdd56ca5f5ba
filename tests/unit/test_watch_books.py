"""What watch reports after a reconnection, and which notifications it drops as already
reported: the comparison itself, without a server (the race it resolves, a commit
between LISTEN and the read of job_check_log, cannot be provoked on demand)."""

from __future__ import annotations

from typing import Any

from cli.alerts import AlertBook, AlertRow, Run
from cli.lateness import LatenessBook


def row(job_id: int, name: str, code: int = 3, status: str = "CRITICAL") -> AlertRow:
    return AlertRow(job_id, name, code, {2: "WARNING", 3: "CRITICAL"}.get(code), "me", status)


def latest(name: str) -> Run:
    return Run(99, "me", "OK")


def brief(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["event"], e["job_name"], e["job_id"], e["previous_alert_code"], e["failures"])
        for e in events
    ]


def caught_up(book: AlertBook, rows: list[AlertRow]) -> list[tuple[Any, ...]]:
    events = book.catch_up(rows, latest, "OK")
    for event in events:
        assert event["caught_up"] is True
        book.apply(event)
    book.replace(rows)
    return brief(events)


def test_catch_up_reports_what_changed_and_nothing_known() -> None:
    book = AlertBook({"A": {1: 3}, "B": {2: 3}})
    rows = [row(2, "B"), row(3, "B", 2, "WARNING"), row(4, "C", 3, "ESCALATED")]
    assert caught_up(book, rows) == [
        ("cleared", "A", 99, 3, 0),
        ("raised", "B", 3, 3, 2),
        ("escalated", "C", 4, None, 1),
    ]
    assert caught_up(book, rows) == []


def test_a_name_cleared_and_failed_again_while_away_is_both() -> None:
    book = AlertBook({"A": {1: 3}})
    assert caught_up(book, [row(5, "A")]) == [
        ("cleared", "A", 99, 3, 0),
        ("raised", "A", 5, None, 1),
    ]


def test_a_row_gone_from_a_name_still_alerting_is_not_a_clear() -> None:
    book = AlertBook({"A": {1: 3, 2: 3}})
    assert caught_up(book, [row(2, "A")]) == []
    assert book.known == {"A": {2: 3}}


def test_late_jobs_are_reported_on_each_change_only() -> None:
    book = LatenessBook()

    def poll(*rows: tuple[int, str, str | None, str]) -> list[tuple[Any, ...]]:
        events = book.compare(rows, "OK", caught_up=False)
        for event in events:
            book.apply(event)
        return [(e["event"], e["job_name"], e["alert_status"], e["alert_code"]) for e in events]

    assert poll((2, "MISSING", "A", "late"), (3, "FAILED_RUN", "B", "failed")) == [
        ("raised", "A", "MISSING", 2)
    ]
    assert poll((2, "MISSING", "A", "later, same code")) == []
    assert poll((3, "MISSING", "A", "late")) == [("changed", "A", "MISSING", 3)]
    assert poll((2, "BLOCKED", "A", "waits")) == [
        ("cleared", "A", "MISSING", 1),
        ("raised", "A", "BLOCKED", 2),
    ]
    assert poll((1, "OK", None, "All jobs run successfully")) == [("cleared", "A", "BLOCKED", 1)]
