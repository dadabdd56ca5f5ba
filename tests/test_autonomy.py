"""Each log call commits on its own: the log survives whatever the caller's transaction does."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, wait_until

# A job that logs a step, finishes it, then fails: whatever the caller does after the
# log calls, these rows must be in the log.
JOB = f"""
    DO $$
    DECLARE
        v_job bigint := {SCHEMA}.add_job('nightly load');
        v_step bigint := {SCHEMA}.add_step(v_job, 'copy rows');
    BEGIN
        PERFORM {SCHEMA}.update_step(v_step, 'OK', 'copied');
        PERFORM {SCHEMA}.fail_job(v_job);
        {{after}}
    END
    $$
"""


def logged(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT l.job_name, l.status, d.action, d.status, d.message"
        f" FROM {SCHEMA}.job_log l JOIN {SCHEMA}.job_detail d USING (job_id)"
        " ORDER BY d.step_id"
    ).fetchall()


EXPECTED = [("NIGHTLY LOAD", "CRITICAL", "copy rows", "OK", "copied")]


def test_survives_rollback(conn: psycopg.Connection) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(JOB.format(after="NULL;"))
    assert logged(conn) == EXPECTED


def test_survives_an_error_in_the_job(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero):
        conn.execute(JOB.format(after="PERFORM 1 / 0;"))
    assert logged(conn) == EXPECTED


def test_survives_statement_timeout(conn: psycopg.Connection) -> None:
    conn.execute("SET statement_timeout = '500ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute(JOB.format(after="PERFORM pg_sleep(30);"))
    conn.execute("RESET statement_timeout")
    assert logged(conn) == EXPECTED


def test_survives_termination_of_the_caller(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as watcher, cluster.connect(db) as job:
        pid = job.info.backend_pid
        job.execute("BEGIN")
        job.execute(JOB.format(after="NULL;"))
        watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            job.execute("SELECT 1")
        assert logged(watcher) == EXPECTED


def test_each_write_is_visible_before_the_caller_commits(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as watcher, cluster.connect(db) as job:
        job.execute("BEGIN")
        (job_id,) = job.execute(f"SELECT {SCHEMA}.add_job('visible')").fetchone() or ()
        seen = watcher.execute(
            f"SELECT job_name, status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
        ).fetchall()
        assert seen == [("VISIBLE", None)]
        job.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        seen = watcher.execute(
            f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
        ).fetchall()
        assert seen == [("OK",)]
        job.execute("ROLLBACK")


def test_owner_and_pid_are_the_callers(cluster: Cluster, db: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE ROLE nightly_batch")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO nightly_batch")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO nightly_batch")
    conn.execute("SET ROLE nightly_batch")
    (job_id,) = conn.execute(f"SELECT {SCHEMA}.add_job('as a role')").fetchone() or ()
    conn.execute("RESET ROLE")
    row = conn.execute(
        f"SELECT owner, pid FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert row == ("nightly_batch", conn.info.backend_pid)
    logger_pids = [pid for pid, _ in cluster.loggers(db)]
    assert conn.info.backend_pid not in logger_pids


def test_job_names_are_upper_cased(conn: psycopg.Connection) -> None:
    conn.execute(f"SELECT {SCHEMA}.add_job('Mixed Case straße')")
    names = conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall()
    expected = conn.execute("SELECT upper('Mixed Case straße')").fetchall()
    assert names == expected


def test_close_and_fail_read_status_texts_at_call_time(conn: psycopg.Connection) -> None:
    ids = [
        conn.execute(f"SELECT {SCHEMA}.add_job('texts')").fetchone()[0]  # type: ignore[index]
        for _ in range(4)
    ]
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (ids[0],))
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (ids[1],))
    conn.execute(f"UPDATE {SCHEMA}.job_status_text SET alert_text = 'FINE' WHERE alert_code = 1")
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE SOMEONE')")
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (ids[2],))
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 4)", (ids[3],))
    rows = conn.execute(
        f"SELECT status, end_time IS NOT NULL FROM {SCHEMA}.job_log ORDER BY job_id"
    ).fetchall()
    assert rows == [
        ("OK", True),
        ("CRITICAL", True),
        ("FINE", True),
        ("PAGE SOMEONE", True),
    ]


def test_fail_job_with_a_warning_level(conn: psycopg.Connection) -> None:
    (job_id,) = conn.execute(f"SELECT {SCHEMA}.add_job('warn')").fetchone() or ()
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 2)", (job_id,))
    status = conn.execute(f"SELECT status FROM {SCHEMA}.job_log").fetchone()
    assert status == ("WARNING",)


def test_update_step_times_the_step(conn: psycopg.Connection) -> None:
    (job_id,) = conn.execute(f"SELECT {SCHEMA}.add_job('timed')").fetchone() or ()
    (step_id,) = conn.execute(f"SELECT {SCHEMA}.add_step(%s, 'wait')", (job_id,)).fetchone() or ()
    conn.execute("SELECT pg_sleep(0.3)")
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'waited')", (step_id,))
    row = conn.execute(
        f"SELECT elapsed_time, end_time - start_time FROM {SCHEMA}.job_detail"
    ).fetchone()
    assert row is not None
    elapsed, span = row
    assert elapsed >= 0.3
    assert abs(elapsed - span.total_seconds()) < 0.001


def test_cancelled_caller_leaves_log_and_session_usable(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as watcher, cluster.connect(db) as job:
        pid = job.info.backend_pid

        def cancel_when_sleeping() -> bool:
            sleeping = watcher.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                " WHERE pid = %s AND wait_event = 'PgSleep'",
                (pid,),
            ).fetchall()
            return bool(sleeping)

        import threading

        canceller = threading.Thread(target=wait_until, args=(cancel_when_sleeping,))
        canceller.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            job.execute(JOB.format(after="PERFORM pg_sleep(30);"))
        canceller.join()
        assert logged(watcher) == EXPECTED
        job.execute(f"SELECT {SCHEMA}.add_job('after the cancel')")
        assert len(cluster.loggers(db)) == 1
