"""`pg_jobmon watch` trusts only the log: notifications that any role can send on
pg_jobmon_alert are hints of where to read job_log and job_check_log again, run as the
installed command against real clusters."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from command import command_environment
from fix_cluster import SCHEMA, Cluster, add_job, wait_until
from monitoring import finished_job
from watching import hook_lines, watching

from cli.alerts import AlertBook, AlertRow, Run
from cli.hints import MAX_HINTS, Hint, Hints

FAST = ["--interval", "0.2"]
FORGED_TEXT = "FORGED BY OUTSIDER"


@dataclass
class Scene:
    """A test's database: the command's environment, a superuser's session, a session
    of a role with no grant at all (it can still NOTIFY), and a file for hook output."""

    environment: dict[str, str]
    conn: psycopg.Connection
    outsider: psycopg.Connection
    out: Path

    def hook(self) -> list[str]:
        """watch's options for a hook that appends each event to ``out``."""
        return ["--exec", f"cat >> {shlex.quote(str(self.out))}"]

    def hooked(self) -> list[dict[str, Any]]:
        return hook_lines(self.out)


@pytest.fixture
def scene(cluster: Cluster, db: str, conn: psycopg.Connection, tmp_path: Path) -> Iterator[Scene]:
    conn.execute("CREATE ROLE outsider LOGIN")
    try:
        with cluster.connect(db, user="outsider") as outsider:
            yield Scene(command_environment(cluster, db), conn, outsider, tmp_path / "events")
    finally:
        conn.execute("DROP ROLE outsider")


def notify(session: psycopg.Connection, *payloads: dict[str, Any]) -> None:
    for payload in payloads:
        session.execute("SELECT pg_notify('pg_jobmon_alert', %s)", (json.dumps(payload),))


def forged(event: str, job_id: int, name: str, status: str, code: int) -> dict[str, Any]:
    """A payload with every key of the trigger's, its values the forger's own, and more."""
    return {
        "event": event,
        "job_id": job_id,
        "job_name": name,
        "owner": "postgres",
        "status": status,
        "alert_code": code,
        "alert_text": FORGED_TEXT,
        "previous_alert_code": 7,
        "failures": 42,
        "truncated": True,
        "caught_up": True,
        "page": "everyone",
    }


def brief(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event["event"], event["job_name"], event["job_id"], event["alert_code"])


def test_a_forged_replay_of_an_old_failure_runs_no_hook(scene: Scene) -> None:
    """A failure cleared by a good run, then its raise replayed (with the forger's
    fields), and the clear replayed: no hook for either, no forged value in any hook,
    and no second clear at the next reads of job_check_log."""
    conn = scene.conn
    with watching([*scene.hook(), *FAST], scene.environment) as watch:
        old = finished_job(conn, "old", fail_level=3)
        wait_until(lambda: len(scene.hooked()) == 1, what="the raise")
        good = finished_job(conn, "old")
        wait_until(lambda: len(scene.hooked()) == 2, what="the clear")
        notify(
            scene.outsider,
            forged("raised", old, "OLD", "CRITICAL", 3),
            forged("escalated", old, "OLD", "CRITICAL", 3),
            forged("cleared", good, "OLD", "OK", 1),
        )
        # Notifications are read in the order they committed: once the hook has run for
        # a later failure, the forged ones were read, and several intervals pass after.
        later = finished_job(conn, "later", fail_level=2)
        wait_until(lambda: len(scene.hooked()) >= 3, what="the later failure")
        time.sleep(1.5)
        assert watch.process.poll() is None
    events = scene.hooked()
    assert [brief(e) for e in events] == [
        ("raised", "OLD", old, 3),
        ("cleared", "OLD", good, 1),
        ("raised", "LATER", later, 2),
    ]
    assert FORGED_TEXT not in scene.out.read_text()
    assert all("page" not in e and e["truncated"] is False for e in events)


def test_a_forged_notification_of_a_real_failure_gives_the_tables_values(
    scene: Scene,
) -> None:
    """A failure whose notification watch never heard (its status and row written with
    the trigger off): a forged notification makes watch read it, and the hook gets
    job_check_log's and job_log's values, whatever the payload said."""
    conn = scene.conn
    failed = add_job(conn, "quiet")
    # No read at an interval here: the notification alone makes watch look.
    with watching(scene.hook(), scene.environment) as watch:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                f"UPDATE {SCHEMA}.job_log SET status = 'WARNING', end_time = now()"
                " WHERE job_id = %s",
                (failed,),
            )
            conn.execute(
                f"INSERT INTO {SCHEMA}.job_check_log (job_id, job_name, alert_code)"
                " VALUES (%s, 'QUIET', 2)",
                (failed,),
            )
        notify(scene.outsider, forged("escalated", failed, "QUIET", "WARNING", 3))
        wait_until(lambda: len(scene.hooked()) == 1, what="the hook")
        # The same again, and the same job by name only: nothing new.
        notify(
            scene.outsider,
            forged("escalated", failed, "QUIET", "WARNING", 3),
            {"job_name": "QUIET", "alert_text": FORGED_TEXT},
        )
        later = finished_job(conn, "later", fail_level=3)
        wait_until(lambda: len(scene.hooked()) == 2, what="the later failure")
        watch.no_event(within=0.5)
    first, second = scene.hooked()
    assert first == {
        "event": "raised",
        "job_id": failed,
        "job_name": "QUIET",
        "owner": "postgres",
        "status": "WARNING",
        "alert_code": 2,
        "alert_text": "WARNING",
        "previous_alert_code": None,
        "failures": 1,
        "truncated": False,
        "caught_up": False,
    }
    assert brief(second) == ("raised", "LATER", later, 3)


def test_a_flood_of_forged_notifications_does_not_delay_a_real_alert(scene: Scene) -> None:
    """FLOOD different forged notifications, committed just before a real failure:
    watch reads them without a query each, and reports the failure within the bound
    (reading them all one by one takes minutes)."""
    flood = 100_000
    with watching([], scene.environment) as watch:
        scene.outsider.execute(
            "SELECT count(pg_notify('pg_jobmon_alert', json_build_object("
            "  'event', 'raised', 'job_id', g, 'job_name', 'FAKE ' || g,"
            "  'alert_code', 3, 'alert_text', %s::text)::text))"
            " FROM generate_series(1, %s::integer) AS g",
            (FORGED_TEXT, flood),
        )
        started = time.monotonic()
        real = finished_job(scene.conn, "real", fail_level=3)
        event = watch.event(timeout=60)
        took = time.monotonic() - started
        assert brief(event) == ("raised", "REAL", real, 3)
        assert event["alert_text"] == "CRITICAL"
        print(f"the real alert came {took:.2f} s after the flood")
        assert took < 15, f"the real alert came {took:.1f} s after the flood"
        watch.wait_stderr("read all of job_check_log instead")
        watch.no_event(within=0.5)


def test_hostile_hints_do_not_stop_watch(scene: Scene) -> None:
    """Values no query could take (a number past bigint, a NUL, a lone surrogate) are
    no hint at all; watch goes on."""
    with watching([], scene.environment) as watch:
        scene.outsider.execute(
            "SELECT pg_notify('pg_jobmon_alert', t) FROM unnest(%s::text[]) AS t",
            (
                [
                    json.dumps({"event": "raised", "job_id": 2**70}),
                    '{"event": "raised", "job_name": "A\\u0000B"}',
                    '{"event": "raised", "job_name": "\\ud800"}',
                    "[1, 2]",
                ],
            ),
        )
        watch.wait_stderr("no alert")
        real = finished_job(scene.conn, "real", fail_level=3)
        assert brief(watch.event()) == ("raised", "REAL", real, 3)
        assert watch.process.poll() is None


def test_hints_keep_only_where_to_look() -> None:
    payloads = [
        json.dumps(forged("raised", 5, "A", "CRITICAL", 3)),
        json.dumps({"job_id": 5, "job_name": "A"}),  # the same hint, once
        json.dumps({"job_id": True, "job_name": 7}),  # neither can name a row
        "not json",
    ]
    hints = Hints(payloads)
    assert (hints.hints, hints.heard, hints.malformed) == ({Hint(5, "A")}, 4, 2)
    many = Hints(json.dumps({"job_id": n}) for n in range(1, MAX_HINTS + 10))
    assert many.everything and not many.hints


def test_a_hint_is_unconfirmed_unless_it_led_to_an_event_or_a_reported_run() -> None:
    hints = Hints(json.dumps({"job_id": n}) for n in (1, 2, 3, 4))
    events = [{"job_id": 1, "job_name": "A"}, {"job_id": 9, "job_name": "B"}]
    # 1 led to an event, 2 is a run of B, which changed, 3 was reported before.
    assert hints.unconfirmed({2: "B", 4: "C"}, events, lambda job_id: job_id == 3) == 1


def failure_row(job_id: int, name: str, code: int = 3) -> AlertRow:
    return AlertRow(job_id, name, code, "CRITICAL", "me", "CRITICAL")


def read_again(book: AlertBook, rows: list[AlertRow], names: set[str]) -> list[tuple[Any, ...]]:
    """What one wake-up reports of ``names``, delivered."""
    events = book.changes(rows, lambda name: Run(99, "me", "OK"), "OK", names, caught_up=False)
    for event in events:
        book.apply(event)
    book.replace(rows, names)
    return [(e["event"], e["job_name"], e["job_id"], e["caught_up"]) for e in events]


def test_reading_a_name_again_reports_each_change_once() -> None:
    book = AlertBook({"OTHER": {1: 3}})
    assert read_again(book, [failure_row(5, "A")], {"A"}) == [("raised", "A", 5, False)]
    # A replay reads the same rows: nothing new.
    assert read_again(book, [failure_row(5, "A")], {"A"}) == []
    assert read_again(book, [], {"A"}) == [("cleared", "A", 99, False)]
    assert read_again(book, [], {"A"}) == []
    # A name read alone leaves the others as they were.
    assert book.known == {"OTHER": {1: 3}}
    assert book.was_reported(5) and book.was_reported(1) and not book.was_reported(7)
