"""Alerts pushed at commit: NOTIFY pg_jobmon_alert when a job's alert is raised,
escalated or cleared, heard by any session that LISTENs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, scalar
from monitoring import ALERT_KEYS, configure, finished_job

CHANNEL = "pg_jobmon_alert"
# NOTIFY refuses a payload of this many bytes or more.
PAYLOAD_LIMIT = 8000
# Sent by the test after the writes it checks: notifications arrive in commit order, so
# every alert committed before it has arrived when it does.
MARKER = "end of test writes"


@pytest.fixture
def listener(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A session of the test's database listening on the alert channel."""
    with cluster.connect(db) as session:
        session.execute(f"LISTEN {CHANNEL}")
        yield session


def raw_alerts(listener: psycopg.Connection, writer: psycopg.Connection) -> list[str]:
    """The payloads ``listener`` has received so far, in order."""
    writer.execute("SELECT pg_notify(%s, %s)", (CHANNEL, MARKER))
    payloads: list[str] = []
    for notify in listener.notifies(timeout=10):
        if notify.payload == MARKER:
            return payloads
        payloads.append(notify.payload)
    pytest.fail("the marker notification never arrived")


def alerts(listener: psycopg.Connection, writer: psycopg.Connection) -> list[dict[str, Any]]:
    """The alerts ``listener`` has received so far, decoded, in order."""
    return [json.loads(payload) for payload in raw_alerts(listener, writer)]


def alert(
    event: str,
    job_id: int,
    job_name: str,
    status: str | None,
    alert_code: int,
    alert_text: str,
    previous: int | None,
    failures: int,
    owner: str = "postgres",
) -> dict[str, Any]:
    return {
        "event": event,
        "job_id": job_id,
        "job_name": job_name,
        "owner": owner,
        "status": status,
        "alert_code": alert_code,
        "alert_text": alert_text,
        "previous_alert_code": previous,
        "failures": failures,
        "truncated": False,
    }


def set_status(conn: psycopg.Connection, job_id: int, status: str | None) -> None:
    conn.execute(f"UPDATE {SCHEMA}.job_log SET status = %s WHERE job_id = %s", (status, job_id))


def test_a_failure_raises_and_the_next_good_run_clears(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    first = finished_job(conn, "nightly", fail_level=3)
    second = finished_job(conn, "nightly", fail_level=2)
    good = finished_job(conn, "nightly")
    assert alerts(listener, conn) == [
        alert("raised", first, "NIGHTLY", "CRITICAL", 3, "CRITICAL", None, 1),
        alert("raised", second, "NIGHTLY", "WARNING", 2, "WARNING", 3, 2),
        alert("cleared", good, "NIGHTLY", "OK", 1, "OK", 3, 0),
    ]


def test_a_good_run_of_a_name_without_alerts_sends_nothing(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    finished_job(conn, "fine")
    finished_job(conn, "fine")
    add_job(conn, "still running")
    # Another name's alert does not make this name's good runs clear anything.
    finished_job(conn, "other", fail_level=3)
    finished_job(conn, "fine")
    assert [a["job_name"] for a in alerts(listener, conn)] == ["OTHER"]


def test_an_escalation_is_sent_as_escalated(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE')")
    configure(conn, "FLAKY", escalate=2)
    runs = [finished_job(conn, "flaky", fail_level=2) for _ in range(3)]
    good = finished_job(conn, "flaky")
    assert alerts(listener, conn) == [
        alert("raised", runs[0], "FLAKY", "WARNING", 2, "WARNING", None, 1),
        alert("escalated", runs[1], "FLAKY", "ESCALATED", 3, "CRITICAL", 2, 2),
        alert("escalated", runs[2], "FLAKY", "ESCALATED", 4, "PAGE", 3, 3),
        alert("cleared", good, "FLAKY", "OK", 1, "OK", 4, 0),
    ]


def test_custom_texts_are_sent_as_stored(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    conn.execute(f"UPDATE {SCHEMA}.job_status_text SET alert_text = 'FINE' WHERE alert_code = 1")
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (5, 'PAGED')")
    paged = finished_job(conn, "custom", fail_level=5)
    good = finished_job(conn, "custom")
    assert alerts(listener, conn) == [
        alert("raised", paged, "CUSTOM", "PAGED", 5, "PAGED", None, 1),
        alert("cleared", good, "CUSTOM", "FINE", 1, "FINE", 5, 0),
    ]


def test_sql_job_failures_are_sent(conn: psycopg.Connection, listener: psycopg.Connection) -> None:
    conn.execute(f"SELECT {SCHEMA}.sql_job('broken sql', 'DELETE FROM no_such_table')")
    conn.execute(f"SELECT {SCHEMA}.sql_job('broken sql', 'SELECT 1')")
    assert [(a["event"], a["job_name"], a["status"]) for a in alerts(listener, conn)] == [
        ("raised", "BROKEN SQL", "CRITICAL"),
        ("cleared", "BROKEN SQL", "OK"),
    ]


def test_the_alert_outlives_the_jobs_own_rollback(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    """fail_job writes on the logging connection, which commits by itself."""
    conn.autocommit = False
    job_id = add_job(conn, "undone")
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
    conn.rollback()
    conn.autocommit = True
    assert alerts(listener, conn) == [
        alert("raised", job_id, "UNDONE", "CRITICAL", 3, "CRITICAL", None, 1)
    ]


def test_a_status_written_by_hand_is_sent(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    job_id = add_job(conn, "by hand")
    set_status(conn, job_id, "WARNING")
    set_status(conn, job_id, "CRITICAL")
    set_status(conn, job_id, "OK")
    set_status(conn, job_id, "WARNING")
    # No alert's text, or no status at all: the job's row goes, and with it the alert.
    set_status(conn, job_id, "looked at")
    other = add_job(conn, "by hand")
    set_status(conn, job_id, "CRITICAL")
    set_status(conn, other, "CRITICAL")
    set_status(conn, job_id, None)
    set_status(conn, other, None)
    assert alerts(listener, conn) == [
        alert("raised", job_id, "BY HAND", "WARNING", 2, "WARNING", None, 1),
        alert("raised", job_id, "BY HAND", "CRITICAL", 3, "CRITICAL", 2, 1),
        alert("cleared", job_id, "BY HAND", "OK", 1, "OK", 3, 0),
        alert("raised", job_id, "BY HAND", "WARNING", 2, "WARNING", None, 1),
        alert("cleared", job_id, "BY HAND", "looked at", 1, "OK", 2, 0),
        alert("raised", job_id, "BY HAND", "CRITICAL", 3, "CRITICAL", None, 1),
        alert("raised", other, "BY HAND", "CRITICAL", 3, "CRITICAL", 3, 2),
        # The name keeps an alert while another of its runs has one.
        alert("cleared", other, "BY HAND", None, 1, "OK", 3, 0),
    ]


def test_nothing_is_sent_for_a_write_that_rolls_back(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    job_id = add_job(conn, "rolled back")
    with pytest.raises(psycopg.errors.QueryCanceled), conn.transaction():
        set_status(conn, job_id, "CRITICAL")
        conn.execute("SET LOCAL statement_timeout = '1ms'")
        conn.execute("SELECT pg_sleep(1)")
    with conn.transaction():
        with conn.transaction(force_rollback=True):
            set_status(conn, job_id, "WARNING")
        conn.execute("SELECT 1")
    assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)) is None
    assert alerts(listener, conn) == []


@pytest.mark.parametrize(
    "name",
    [
        "long " * 3000,
        "é" * 6000,
        "日本" * 3000,
        "\x01\t\n" * 3000,
        '"\\' * 5000,
        "😀" * 2500,
    ],
    ids=["long", "two bytes", "three bytes", "control", "quotes", "four bytes"],
)
def test_long_texts_are_cut_to_fit_the_payload(
    conn: psycopg.Connection, listener: psycopg.Connection, name: str
) -> None:
    """JSON escapes make a text longer than it is stored: the cut allows for them."""
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, %s)", ("PAGE " + name,))
    job_id = add_job(conn, name)
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 4)", (job_id,))
    # A DBA can write any owner, and the status, in one statement.
    other = add_job(conn, "short")
    conn.execute(
        f"UPDATE {SCHEMA}.job_log SET owner = %s, status = 'PAGE ' || %s WHERE job_id = %s",
        (name, name, other),
    )
    stored = conn.execute(
        f"SELECT job_name, owner, status FROM {SCHEMA}.job_log WHERE job_id IN (%s, %s)"
        " ORDER BY job_id",
        (job_id, other),
    ).fetchall()
    payloads = raw_alerts(listener, conn)
    assert len(payloads) == 2
    for payload, (job_name, owner, status) in zip(payloads, stored, strict=True):
        # Cut to fit, not far below: the texts keep what room there is.
        assert PAYLOAD_LIMIT - 50 < len(payload.encode()) < PAYLOAD_LIMIT
        sent = json.loads(payload)
        assert set(sent) == ALERT_KEYS
        assert sent["truncated"] is True
        for key, value in (("job_name", job_name), ("owner", owner), ("status", status)):
            assert value.startswith(sent[key]), key
        assert ("PAGE " + name).startswith(sent["alert_text"])
        assert sent["alert_code"] == 4
        # The budget is shared: no long text is cut to nothing.
        assert len(sent["status"]) > 100 and len(sent["alert_text"]) > 100


def test_a_payload_that_fits_is_not_cut(
    conn: psycopg.Connection, listener: psycopg.Connection
) -> None:
    name = "é" * 1500  # 3000 bytes: the payload has room for it
    job_id = finished_job(conn, name, fail_level=3)
    stored = scalar(conn, f"SELECT job_name FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
    (sent,) = alerts(listener, conn)
    assert (sent["job_id"], sent["job_name"], sent["truncated"]) == (job_id, stored, False)


def test_a_role_that_may_only_listen_hears_what_the_monitor_reads(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """LISTEN needs no privilege: the payload holds only what the log tables show."""
    conn.execute("CREATE ROLE only_listens LOGIN")
    try:
        with cluster.connect(db, user="only_listens") as outsider:
            outsider.execute(f"LISTEN {CHANNEL}")
            failed = finished_job(conn, "watched", fail_level=2)
            (sent,) = alerts(outsider, conn)
        assert set(sent) == ALERT_KEYS
        run = conn.execute(
            f"SELECT job_id, job_name, owner, status FROM {SCHEMA}.job_log WHERE job_id = %s",
            (failed,),
        ).fetchone()
        code = scalar(
            conn, f"SELECT alert_code FROM {SCHEMA}.job_check_log WHERE job_id = %s", (failed,)
        )
        text = scalar(
            conn, f"SELECT alert_text FROM {SCHEMA}.job_status_text WHERE alert_code = %s", (code,)
        )
        failures = scalar(
            conn, f"SELECT count(*) FROM {SCHEMA}.job_check_log WHERE job_name = 'WATCHED'"
        )
        assert sent == {
            "event": "raised",
            **dict(zip(("job_id", "job_name", "owner", "status"), run or (), strict=True)),
            "alert_code": code,
            "alert_text": text,
            "previous_alert_code": None,
            "failures": failures,
            "truncated": False,
        }
    finally:
        conn.execute("DROP ROLE only_listens")
