"""Faults around the logging connection: a crashed caller, no connection slot left."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import psycopg
import pytest
from fix_cluster import (
    LOGGER_PREFIX,
    SCHEMA,
    Cluster,
    add_job,
    in_background,
    logger_application_name,
    scalar,
    started_cluster,
    wait_until,
)

# A job that logs five finished steps and one still running, then waits to be killed.
CRASHING_JOB = f"""
    DO $$
    DECLARE v_job bigint := {SCHEMA}.add_job('crash');
    BEGIN
        FOR i IN 1..5 LOOP
            PERFORM {SCHEMA}.update_step(
                {SCHEMA}.add_step(v_job, 'step ' || i), 'OK', 'done ' || i
            );
        END LOOP;
        PERFORM {SCHEMA}.add_step(v_job, 'in flight');
        PERFORM pg_sleep(60);
    END
    $$
"""

JOB_ROWS = (
    f"SELECT job_id, owner, job_name, start_time, end_time, status, pid FROM {SCHEMA}.job_log"
)
STEP_ROWS = (
    f"SELECT job_id, step_id, action, start_time, end_time, elapsed_time, status, message"
    f" FROM {SCHEMA}.job_detail ORDER BY step_id"
)


def logged(conn: psycopg.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every row of job_log and job_detail, all columns."""
    return conn.execute(JOB_ROWS).fetchall(), conn.execute(STEP_ROWS).fetchall()


def accepts_connections(cluster: Cluster, dbname: str) -> bool:
    try:
        with cluster.connect(dbname) as probe:
            probe.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def sleeping(conn: psycopg.Connection, pid: int) -> bool:
    """Whether backend ``pid`` waits in pg_sleep()."""
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event = 'PgSleep'", (pid,)
        ).fetchall()
    )


def is_broken(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.slow
def test_killed_caller_keeps_its_log_and_the_server_logs_after_the_reset() -> None:
    """SIGKILL of a calling backend makes the server reset every backend: the log stays."""
    with started_cluster() as crashing:
        crashing.create_template()
        db = crashing.new_database()
        with contextlib.ExitStack() as held:
            watcher = held.enter_context(crashing.connect(db))
            bystander = held.enter_context(crashing.connect(db))
            job = held.enter_context(crashing.connect(db))
            pid = job.info.backend_pid
            running = held.enter_context(in_background(job, CRASHING_JOB))
            wait_until(lambda: sleeping(watcher, pid), what="the job to log its steps and sleep")
            jobs_before, steps_before = logged(watcher)
            assert [(row[2], row[5], row[6]) for row in jobs_before] == [("CRASH", None, pid)]
            assert [(row[2], row[4] is not None, row[6], row[7]) for row in steps_before] == [
                *[(f"step {i}", True, "OK", f"done {i}") for i in range(1, 6)],
                ("in flight", False, None, None),
            ]
            assert [name for _, name in crashing.loggers(db)] == [logger_application_name(pid)]
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(psycopg.OperationalError):
                running.result(timeout=30)
            # Every other backend is ended by the reset: the bystander's connection breaks.
            wait_until(lambda: is_broken(bystander), what="the server to reset its backends")
        wait_until(
            lambda: accepts_connections(crashing, db),
            timeout=60,
            what="the server to accept connections after the reset",
        )
        assert f"server process (PID {pid}) was terminated by signal 9" in (
            crashing.log_file.read_text()
        )
        assert crashing.loggers(db) == []
        with crashing.connect(db) as after:
            assert logged(after) == (jobs_before, steps_before)
            job_id = add_job(after, "after the crash")
            step_id = scalar(after, f"SELECT {SCHEMA}.add_step(%s, 'again')", (job_id,))
            after.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'fine')", (step_id,))
            after.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
            rows = after.execute(
                f"SELECT l.job_name, l.status, l.pid, d.action, d.status, d.message"
                f" FROM {SCHEMA}.job_log l JOIN {SCHEMA}.job_detail d USING (job_id)"
                " WHERE job_id = %s",
                (job_id,),
            ).fetchall()
            assert rows == [
                ("AFTER THE CRASH", "OK", after.info.backend_pid, "again", "OK", "fine")
            ]
            ((_, name),) = crashing.loggers(db)
            assert name == logger_application_name(after.info.backend_pid)


def fill_connection_slots(cluster: Cluster, held: contextlib.ExitStack) -> list[psycopg.Connection]:
    """Superuser connections opened until the server refuses one: no slot is left."""
    fillers: list[psycopg.Connection] = []
    for _ in range(100):
        try:
            fillers.append(held.enter_context(cluster.connect()))
        except psycopg.OperationalError as refused:
            assert "too many clients already" in str(refused)
            return fillers
    pytest.fail("the server accepted 100 connections beyond the caller's")


@pytest.mark.slow
def test_no_connection_slot_left_is_a_quick_clear_error() -> None:
    """With every slot taken, even the reserved ones, the first log call fails at once."""
    with started_cluster(max_connections=5, superuser_reserved_connections=2) as small:
        small.create_template()
        db = small.new_database()
        with contextlib.ExitStack() as held:
            caller = held.enter_context(small.connect(db))
            fillers = fill_connection_slots(small, held)
            started = time.monotonic()
            with pytest.raises(psycopg.errors.TooManyConnections) as raised:
                add_job(caller, "no slot")
            elapsed = time.monotonic() - started
            failure = raised.value
            assert elapsed < 3.0
            assert "could not open the pg_jobmon logging connection" in str(
                failure.diag.message_primary
            )
            # The server's own reason reaches the caller.
            assert "too many clients already" in (failure.diag.message_detail or "")

            # Once a slot is free, the same session logs, through one logging connection.
            # With a timeout, pg_terminate_backend() returns once the backend has exited,
            # so its slot is free by then.
            freed = fillers.pop().info.backend_pid
            assert scalar(caller, "SELECT pg_terminate_backend(%s, 10000)", (freed,)) is True
            job_id = add_job(caller, "slot free")
            caller.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
            assert caller.execute(f"SELECT job_name, status FROM {SCHEMA}.job_log").fetchall() == [
                ("SLOT FREE", "OK")
            ]
            loggers = caller.execute(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE %s",
                (LOGGER_PREFIX + "%",),
            ).fetchall()
            assert loggers == [(logger_application_name(caller.info.backend_pid),)]

        # What a DBA must read to act: that the server ran out of connection slots,
        # which max_connections sets; the server's "too many clients" alone names neither.
        hint = str(failure.diag.message_hint)
        assert "no connection slot left" in hint and "max_connections" in hint
