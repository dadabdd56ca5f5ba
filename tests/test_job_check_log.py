"""The job_log trigger: job_check_log follows job statuses, and repeated alerts escalate."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, in_background, scalar, wait_until
from monitoring import check_log, configure, finished_job


def status_of(conn: psycopg.Connection, job_id: int) -> str | None:
    value = scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
    return None if value is None else str(value)


def escalation_steps(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT job_id, status, message FROM {SCHEMA}.job_detail"
        " WHERE action = 'ALERT ESCALATION' ORDER BY step_id"
    ).fetchall()


def test_failures_add_rows_and_a_good_run_clears_its_job_only(conn: psycopg.Connection) -> None:
    first = finished_job(conn, "nightly", fail_level=3)
    second = finished_job(conn, "nightly", fail_level=2)
    other = finished_job(conn, "other", fail_level=3)
    assert check_log(conn) == [(first, "NIGHTLY", 3), (second, "NIGHTLY", 2), (other, "OTHER", 3)]
    finished_job(conn, "nightly")
    assert check_log(conn) == [(other, "OTHER", 3)]


def test_a_running_job_or_a_good_one_adds_nothing(conn: psycopg.Connection) -> None:
    add_job(conn, "running")
    finished_job(conn, "fine")
    assert check_log(conn) == []


def test_a_direct_update_is_followed_too(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A DBA (here a role with 1.5.0's table grants) writes statuses by hand."""
    job_id = add_job(conn, "by hand")
    conn.execute("CREATE ROLE dba LOGIN")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO dba")
    conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO dba")
    with cluster.connect(db, user="dba") as dba:
        dba.execute(f"UPDATE {SCHEMA}.job_log SET status = 'WARNING' WHERE job_id = %s", (job_id,))
        assert check_log(dba) == [(job_id, "BY HAND", 2)]
        dba.execute(f"UPDATE {SCHEMA}.job_log SET status = 'OK' WHERE job_id = %s", (job_id,))
        assert check_log(dba) == []


def test_custom_texts_and_codes(conn: psycopg.Connection) -> None:
    conn.execute(f"UPDATE {SCHEMA}.job_status_text SET alert_text = 'FINE' WHERE alert_code = 1")
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (5, 'PAGED')")
    paged = finished_job(conn, "custom", fail_level=5)
    unknown = add_job(conn, "custom")
    conn.execute(f"UPDATE {SCHEMA}.job_log SET status = 'BROKEN' WHERE job_id = %s", (unknown,))
    # A status that is no code's text adds nothing, as in 1.5.0.
    assert check_log(conn) == [(paged, "CUSTOM", 5)]
    good = finished_job(conn, "custom")
    assert status_of(conn, good) == "FINE"
    assert check_log(conn) == []


def test_a_job_keeps_one_row_whatever_its_status_becomes(conn: psycopg.Connection) -> None:
    job_id = finished_job(conn, "regraded", fail_level=2)
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 3)", (job_id,))
    assert check_log(conn) == [(job_id, "REGRADED", 3)]
    conn.execute(f"UPDATE {SCHEMA}.job_log SET status = NULL WHERE job_id = %s", (job_id,))
    assert check_log(conn) == []


def test_restored_rows_are_not_counted_twice(conn: psycopg.Connection) -> None:
    """pg_restore inserts job_log rows and job_check_log rows each from the dump."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
        " VALUES ('x', 'RESTORED', now(), now(), 'CRITICAL', 1)"
    )
    assert check_log(conn) == []


def test_sql_job_and_cancel_job_failures_are_followed(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    scalar(conn, f"SELECT {SCHEMA}.sql_job('broken sql', 'SELECT 1/0')")
    with cluster.connect(db) as worker:
        job_id = add_job(worker, "cancelled")
        with in_background(worker, "SELECT pg_sleep(60)"):
            wait_until(
                lambda: scalar(
                    conn,
                    "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s",
                    (worker.info.backend_pid,),
                ),
                what="the job to sleep",
            )
            assert scalar(conn, f"SELECT {SCHEMA}.cancel_job(%s)", (job_id,))
    assert [(name, code) for _, name, code in check_log(conn)] == [
        ("BROKEN SQL", 3),
        ("CANCELLED", 3),
    ]


def test_a_good_run_ends_an_escalation(conn: psycopg.Connection) -> None:
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE')")
    configure(conn, "FLAKY", escalate=2)
    for _ in range(3):
        finished_job(conn, "flaky", fail_level=2)
    assert [code for _, _, code in check_log(conn)] == [2, 3, 4]
    finished_job(conn, "flaky")
    # The next failure starts again at its own level.
    again = finished_job(conn, "flaky", fail_level=2)
    assert status_of(conn, again) == "WARNING"
    assert check_log(conn) == [(again, "FLAKY", 2)]


@pytest.mark.parametrize(
    "columns", [{}, {"escalate": 1, "active": False}], ids=["no count", "inactive"]
)
def test_no_escalation_without_an_active_escalate_count(
    conn: psycopg.Connection, columns: dict[str, Any]
) -> None:
    configure(conn, "STEADY", **columns)
    jobs = [finished_job(conn, "steady", fail_level=2) for _ in range(4)]
    assert [status_of(conn, job) for job in jobs] == ["WARNING"] * 4
    assert escalation_steps(conn) == []


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ({"job_name": "lower case"}, "job_check_config_job_name_upper"),
        ({"warn_threshold": "-1 hour"}, "job_check_config_thresholds_ordered"),
        ({"error_threshold": "1 minute"}, "job_check_config_thresholds_ordered"),
        ({"sensitivity": -1}, "job_check_config_sensitivity_not_negative"),
        ({"escalate": 0}, "job_check_config_escalate_positive"),
    ],
)
def test_config_rows_that_could_never_work_are_refused(
    conn: psycopg.Connection, columns: dict[str, object], constraint: str
) -> None:
    row: dict[str, object] = {
        "job_name": "JOB",
        "warn_threshold": "1 hour",
        "error_threshold": "2 hours",
        **columns,
    }
    with pytest.raises(psycopg.errors.CheckViolation) as raised:
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_check_config ({', '.join(row)})"
            f" VALUES ({', '.join(['%s'] * len(row))})",
            tuple(row.values()),
        )
    assert raised.value.diag.constraint_name == constraint
