"""A log write that waits never hangs its caller.

A lock of the caller's own transaction ends the write at once; another session's lock
is waited for up to pg_jobmon.lock_timeout; a cancel or statement_timeout of the caller
ends the wait, and the statement waiting on the logging connection with it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    add_job,
    backend_state,
    in_background,
    scalar,
    wait_until,
)

LOCK_JOB_ROW = f"SELECT FROM {SCHEMA}.job_log WHERE job_id = %s FOR UPDATE"
CLOSE_JOB = f"SELECT {SCHEMA}.close_job(%s)"


@pytest.fixture
def other(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A second session, to hold locks that the caller's logging connection waits for."""
    with cluster.connect(db) as connection:
        yield connection


@pytest.fixture
def watcher(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A third session, outside any transaction, so each look at pg_stat_activity is new."""
    with cluster.connect(db) as connection:
        yield connection


@dataclass(frozen=True)
class Job:
    """A job logged by the caller's session, and that session's logging backend."""

    job_id: int
    logger: int


@pytest.fixture
def job(cluster: Cluster, db: str, conn: psycopg.Connection) -> Job:
    job_id = add_job(conn)
    return Job(job_id, logger_of(cluster, db, conn))


def logger_of(cluster: Cluster, db: str, caller: psycopg.Connection) -> int:
    """The pid of the logging backend of session ``caller``."""
    suffix = f" for backend {caller.info.backend_pid}"
    (pid,) = [pid for pid, name in cluster.loggers(db) if name.endswith(suffix)]
    return pid


def waits_for_a_lock(conn: psycopg.Connection, pid: int) -> bool:
    return backend_state(conn, pid)[1] == "Lock"


def status_of(conn: psycopg.Connection, job_id: int) -> str | None:
    query = f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s"
    return str(scalar(conn, query, (job_id,)) or "") or None


def test_a_lock_of_the_callers_own_transaction_ends_the_write_at_once(
    conn: psycopg.Connection,
    other: psycopg.Connection,
    watcher: psycopg.Connection,
    job: Job,
) -> None:
    job_id, logger = job.job_id, job.logger
    started = time.monotonic()
    with pytest.raises(psycopg.errors.DeadlockDetected) as raised, conn.transaction():
        conn.execute(LOCK_JOB_ROW, (job_id,))
        conn.execute(CLOSE_JOB, (job_id,))
    assert time.monotonic() - started < 5  # the default limit is 10 s; this needs none
    diag = raised.value.diag
    assert "log write is blocked by the caller's own transaction" in str(diag.message_primary)
    assert f"(process {logger}) waits for a lock held by this session" in str(diag.message_detail)
    assert f"(process {conn.info.backend_pid})" in str(diag.message_detail)
    assert "FOR UPDATE" in str(diag.message_hint)
    # Nothing was written, nothing waits any more, and the next write goes through.
    assert status_of(other, job_id) is None
    assert not waits_for_a_lock(watcher, logger)
    conn.execute(CLOSE_JOB, (job_id,))
    assert status_of(other, job_id) == "OK"


def test_a_lock_of_the_callers_own_transaction_inside_a_plpgsql_job(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        f"""
        CREATE FUNCTION nightly() RETURNS void LANGUAGE plpgsql AS $$
        DECLARE v_job bigint := {SCHEMA}.add_job('nightly');
        BEGIN
            PERFORM FROM {SCHEMA}.job_log WHERE job_id = v_job FOR UPDATE;
            PERFORM {SCHEMA}.close_job(v_job);
        END
        $$
        """
    )
    with pytest.raises(psycopg.errors.DeadlockDetected):
        conn.execute("SELECT nightly()")
    # The job's row, written before the lock, survives the rollback of the job.
    rows = conn.execute(f"SELECT job_name, status FROM {SCHEMA}.job_log").fetchall()
    assert rows == [("NIGHTLY", None)]


def test_a_lock_held_through_a_session_that_waits_for_the_caller(
    cluster: Cluster,
    db: str,
    conn: psycopg.Connection,
    other: psycopg.Connection,
    watcher: psycopg.Connection,
) -> None:
    job_id = add_job(conn)
    update = f"UPDATE {SCHEMA}.job_log SET pid = pid WHERE job_id = %s"
    with pytest.raises(psycopg.errors.DeadlockDetected) as raised, conn.transaction():
        conn.execute(LOCK_JOB_ROW, (job_id,))
        with in_background(other, update + " RETURNING job_id", (job_id,)):
            wait_until(lambda: waits_for_a_lock(watcher, other.info.backend_pid))
            conn.execute(CLOSE_JOB, (job_id,))
    detail = str(raised.value.diag.message_detail)
    assert f"held by process {other.info.backend_pid}, which in turn waits" in detail


def test_another_sessions_lock_is_waited_for(
    conn: psycopg.Connection,
    other: psycopg.Connection,
    watcher: psycopg.Connection,
    job: Job,
) -> None:
    job_id, logger = job.job_id, job.logger
    other.execute("BEGIN")
    other.execute(LOCK_JOB_ROW, (job_id,))
    with in_background(conn, CLOSE_JOB, (job_id,)) as closing:
        wait_until(lambda: waits_for_a_lock(watcher, logger), what="the write to wait")
        time.sleep(1)  # more than a few polls of the waiting caller
        assert not closing.done()
        other.execute("COMMIT")
        closing.result(timeout=10)
    assert status_of(other, job_id) == "OK"


def test_lock_timeout_bounds_a_wait_for_another_session(
    conn: psycopg.Connection,
    other: psycopg.Connection,
    watcher: psycopg.Connection,
    job: Job,
) -> None:
    job_id, logger = job.job_id, job.logger
    conn.execute("SET pg_jobmon.lock_timeout = '1s'")
    with other.transaction():
        other.execute(LOCK_JOB_ROW, (job_id,))
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable) as raised:
            conn.execute(CLOSE_JOB, (job_id,))
        waited = time.monotonic() - started
        # The statement that waited on the logging connection went with the caller's.
        wait_until(lambda: not waits_for_a_lock(watcher, logger), what="the write to go")
    assert 1 <= waited < 5
    diag = raised.value.diag
    assert "waited longer than pg_jobmon.lock_timeout (1 s)" in str(diag.message_primary)
    assert f"held by process {other.info.backend_pid}." in str(diag.message_detail)
    assert status_of(other, job_id) is None
    conn.execute(CLOSE_JOB, (job_id,))
    assert status_of(other, job_id) == "OK"


def test_a_bad_lock_timeout_is_a_clear_error(
    conn: psycopg.Connection, other: psycopg.Connection
) -> None:
    job_id = add_job(conn)
    conn.execute("SET pg_jobmon.lock_timeout = 'soon'")
    with other.transaction():
        other.execute(LOCK_JOB_ROW, (job_id,))
        with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
            conn.execute(CLOSE_JOB, (job_id,))
    message = str(raised.value.diag.message_primary)
    assert 'invalid value for parameter "pg_jobmon.lock_timeout": "soon"' in message


@pytest.mark.parametrize("how", ["pg_cancel_backend", "statement_timeout"])
def test_a_cancel_ends_the_wait_and_the_waiting_write(
    conn: psycopg.Connection,
    other: psycopg.Connection,
    watcher: psycopg.Connection,
    job: Job,
    how: str,
) -> None:
    job_id, logger = job.job_id, job.logger
    caller_pid = conn.info.backend_pid
    if how == "statement_timeout":
        conn.execute("SET statement_timeout = '1s'")
    with other.transaction():
        other.execute(LOCK_JOB_ROW, (job_id,))
        with in_background(conn, CLOSE_JOB, (job_id,)) as closing:
            wait_until(lambda: waits_for_a_lock(watcher, logger), what="the write to wait")
            started = time.monotonic()
            if how == "pg_cancel_backend":
                other.execute("SELECT pg_cancel_backend(%s)", (caller_pid,))
            with pytest.raises(psycopg.errors.QueryCanceled):
                closing.result(timeout=10)
            ended = time.monotonic() - started
        # Still inside the other session's transaction: the logging connection's own
        # statement was cancelled too, not left waiting for the lock.
        wait_until(lambda: not waits_for_a_lock(watcher, logger), what="the write to go")
    assert ended < 2.5
    assert status_of(other, job_id) is None
    conn.execute("RESET statement_timeout")
    conn.execute(CLOSE_JOB, (job_id,))
    assert status_of(other, job_id) == "OK"
