"""A log call ends in bounded time whatever the logging connection's server does.

A server that stops answering (frozen, or reached over a half-open connection), one that
accepts a connection and never answers it, a lock held on another server: each ends
the call by the caller's statement_timeout or cancel, or by pg_jobmon.lock_timeout. A
write whose caller is gone or gave up is abandoned, never committed later.

Every statement that may hang runs in a thread with a bounded wait, and whatever holds
it up (a frozen proxy, a lock) is released on the way out.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any, Callable

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    TEMPLATE,
    Cluster,
    add_job,
    backend_state,
    logger_application_name,
    started_cluster,
    wait_until,
)
from tcp_proxy import TcpProxy

ADD_JOB = f"SELECT {SCHEMA}.add_job('bounded')"
ADD_STEP = f"SELECT {SCHEMA}.add_step(%s, %s)"
CLOSE_JOB = f"SELECT {SCHEMA}.close_job(%s)"
LOCK_JOB_ROW = f"SELECT FROM {SCHEMA}.job_log WHERE job_id = %s FOR UPDATE"
MAP_TO = f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES (%s, %s)"

QUERY_CANCELED = "57014"
CONNECTION_FAILURE = "08006"
LOCK_NOT_AVAILABLE = "55P03"

# How long a test waits for a call that should have ended long before: past it, the
# call is taken to hang.
HANG = 10.0


def connect(cluster: Cluster, db: str) -> psycopg.Connection:
    return cluster.connect(db, connect_timeout=5)


@pytest.fixture
def caller(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """The session that logs; closed, not committed, at the end: close() does not wait
    for a statement that a failed test left running in a thread."""
    connection = connect(cluster, db)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def watcher(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A session that looks on, cancels and terminates."""
    with connect(cluster, db) as connection:
        yield connection


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[TcpProxy]:
    """A proxy to the cluster; closing it at the end ends whatever waits on it."""
    with TcpProxy(cluster.node.host, cluster.node.port) as running:
        yield running


@pytest.fixture
def proxied(caller: psycopg.Connection, proxy: TcpProxy) -> psycopg.Connection:
    """The caller, its logging connection going through the proxy (the database is
    the test's own, so the mapping row goes with it)."""
    caller.execute(MAP_TO, (proxy.host, str(proxy.port)))
    return caller


@contextlib.contextmanager
def running(
    conn: psycopg.Connection,
    query: str,
    params: tuple[Any, ...],
    unblock: Callable[[], object],
) -> Iterator[Future[None]]:
    """Run ``query`` on ``conn`` in a thread, so the test can act while it runs.

    On the way out ``unblock`` releases whatever may hold the statement up, and the block
    waits a bounded time for it to end. The thread is a daemon: a statement that still
    hangs fails its own test but never holds up the run.
    """
    future: Future[None] = Future()

    def run() -> None:
        try:
            conn.execute(query, params)
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield future
    finally:
        unblock()
        thread.join(timeout=HANG)


def failure(call: Future[None], started: float) -> tuple[psycopg.Error, float]:
    """The error that ``call`` ended with, and the seconds since ``started``.

    The test fails if the call is still running after HANG seconds, or succeeds.
    """
    try:
        call.result(timeout=HANG)
    except psycopg.Error as error:
        return error, time.monotonic() - started
    except concurrent.futures.TimeoutError:
        pytest.fail(f"the call still runs after {time.monotonic() - started:.1f} s")
    pytest.fail("the call succeeded")


def log(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> None:
    """A log call that must succeed, and soon."""
    with running(conn, query, params, unblock=lambda: None) as call:
        call.result(timeout=HANG)


def loggers_of(cluster: Cluster, db: str, caller_pid: int) -> list[int]:
    """The pids of the logging backends of the session ``caller_pid``."""
    name = logger_application_name(caller_pid)
    return [pid for pid, logger in cluster.loggers(db) if logger == name]


def is_idle(conn: psycopg.Connection, pid: int) -> bool:
    """Whether backend ``pid`` runs nothing (or is gone): a write it ran has ended."""
    return backend_state(conn, pid)[0] != "active"


def job_row(conn: psycopg.Connection, job_id: int) -> tuple[Any, ...] | None:
    """(end_time, status) of a job."""
    return conn.execute(
        f"SELECT end_time, status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
    ).fetchone()


def releaser(holder: psycopg.Connection) -> Callable[[], None]:
    """What ends ``holder``'s transaction; it may run twice (COMMIT outside one only warns)."""

    def release() -> None:
        holder.execute("COMMIT")

    return release


def wait_in_the_call(watcher: psycopg.Connection, pid: int) -> None:
    """Until backend ``pid`` runs its statement, and some polls of its wait after that."""
    wait_until(lambda: backend_state(watcher, pid)[0] == "active", what="the call to start")
    time.sleep(0.5)


def test_statement_timeout_ends_a_write_to_a_frozen_server(
    proxied: psycopg.Connection, proxy: TcpProxy
) -> None:
    job_id = add_job(proxied)
    proxy.freeze()
    proxied.execute("SET statement_timeout = '500ms'")
    started = time.monotonic()
    with running(proxied, ADD_STEP, (job_id, "x"), unblock=proxy.close) as call:
        error, ended = failure(call, started)
    assert error.sqlstate == QUERY_CANCELED
    assert ended < 3


@pytest.mark.parametrize("how", ["pg_cancel_backend", "pg_terminate_backend"])
def test_cancel_or_terminate_ends_a_write_to_a_frozen_server(
    proxied: psycopg.Connection, proxy: TcpProxy, watcher: psycopg.Connection, how: str
) -> None:
    pid = proxied.info.backend_pid
    job_id = add_job(proxied)
    proxy.freeze()
    with running(proxied, ADD_STEP, (job_id, "x"), unblock=proxy.close) as call:
        wait_in_the_call(watcher, pid)
        started = time.monotonic()
        watcher.execute(f"SELECT {how}(%s)", (pid,))
        error, ended = failure(call, started)
        if how == "pg_terminate_backend":
            assert isinstance(error, psycopg.OperationalError)
            wait_until(lambda: backend_state(watcher, pid) == (None, None), what="it to go")
            ended = time.monotonic() - started
        else:
            assert error.sqlstate == QUERY_CANCELED
    assert ended < 3


def test_lock_timeout_ends_a_write_to_a_frozen_server(
    cluster: Cluster, db: str, proxied: psycopg.Connection, proxy: TcpProxy
) -> None:
    pid = proxied.info.backend_pid
    proxied.execute("SET pg_jobmon.lock_timeout = '1s'")
    job_id = add_job(proxied)
    (old_logger,) = loggers_of(cluster, db, pid)
    proxy.freeze()
    started = time.monotonic()
    with running(proxied, ADD_STEP, (job_id, "frozen"), unblock=proxy.thaw) as call:
        error, ended = failure(call, started)
    assert error.sqlstate == CONNECTION_FAILURE
    # pg_jobmon's own errors come with PL/Python's prefix.
    message = str(error.diag.message_primary).removeprefix("plpy.Error: ")
    assert message.startswith("the pg_jobmon logging")
    assert 1 <= ended < 5

    # Once the server answers again (the block thawed the proxy), the same session logs,
    # on a new logging connection.
    log(proxied, ADD_STEP, (job_id, "thawed"))
    wait_until(lambda: old_logger not in loggers_of(cluster, db, pid), what="the old logger to end")
    (new_logger,) = loggers_of(cluster, db, pid)
    assert new_logger != old_logger
    actions = proxied.execute(
        f"SELECT action FROM {SCHEMA}.job_detail WHERE job_id = %s", (job_id,)
    ).fetchall()
    assert ("thawed",) in actions


def test_statement_timeout_ends_a_connection_that_is_never_answered(
    cluster: Cluster, db: str, proxied: psycopg.Connection, proxy: TcpProxy
) -> None:
    pid = proxied.info.backend_pid
    proxy.black_hole()
    proxied.execute("SET statement_timeout = '500ms'")
    started = time.monotonic()
    with running(proxied, ADD_JOB, (), unblock=proxy.close) as call:
        error, ended = failure(call, started)
        assert error.sqlstate == QUERY_CANCELED
        assert ended < 3
        # The attempt reached the proxy, and was given up: nothing is left waiting.
        assert proxy.black_holed >= 1
        wait_until(lambda: proxy.held() == 0, timeout=3, what="the attempt to be dropped")
    assert loggers_of(cluster, db, pid) == []
    assert proxied.execute(f"SELECT count(*) FROM {SCHEMA}.job_log").fetchone() == (0,)


@pytest.mark.parametrize("how", ["pg_terminate_backend", "pg_cancel_backend"])
def test_the_write_of_a_caller_that_went_is_abandoned(
    cluster: Cluster, db: str, caller: psycopg.Connection, watcher: psycopg.Connection, how: str
) -> None:
    pid = caller.info.backend_pid
    caller.execute("SET pg_jobmon.lock_timeout = 0")  # wait for the lock without a limit
    job_id = add_job(caller)
    (logger,) = loggers_of(cluster, db, pid)
    with connect(cluster, db) as holder:
        holder.execute("BEGIN")
        holder.execute(LOCK_JOB_ROW, (job_id,))
        release = releaser(holder)
        with running(caller, CLOSE_JOB, (job_id,), unblock=release) as call:
            wait_until(
                lambda: backend_state(watcher, logger)[1] == "Lock", what="the write to wait"
            )
            started = time.monotonic()
            watcher.execute(f"SELECT {how}(%s)", (pid,))
            error, _ = failure(call, started)
            if how == "pg_terminate_backend":
                assert isinstance(error, psycopg.OperationalError)
                # Its logging backend goes with it, lock or no lock.
                deadline = started + 3
                while loggers_of(cluster, db, pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert loggers_of(cluster, db, pid) == [], "the logger outlives its caller"
            else:
                assert error.sqlstate == QUERY_CANCELED
                wait_until(
                    lambda: backend_state(watcher, logger)[1] != "Lock",
                    timeout=3,
                    what="the write to stop waiting",
                )
            release()
    # Once the lock is free, the abandoned write is not made after all.
    wait_until(lambda: is_idle(watcher, logger), what="the logger to be done")
    assert job_row(watcher, job_id) == (None, None)


@pytest.mark.slow
def test_lock_timeout_bounds_a_wait_on_a_remote_logging_server(
    db: str, caller: psycopg.Connection
) -> None:
    pid = caller.info.backend_pid
    with started_cluster() as remote:
        remote.create_template()
        with remote.connect(connect_timeout=5) as admin:
            admin.execute(f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}")
        caller.execute(MAP_TO, (remote.node.host, str(remote.node.port)))
        job_id = add_job(caller)
        (logger,) = loggers_of(remote, db, pid)
        with connect(remote, db) as holder, connect(remote, db) as watcher:
            holder.execute("BEGIN")
            holder.execute(LOCK_JOB_ROW, (job_id,))
            release = releaser(holder)
            caller.execute("SET pg_jobmon.lock_timeout = '2s'")
            started = time.monotonic()
            with running(caller, CLOSE_JOB, (job_id,), unblock=release) as call:
                error, ended = failure(call, started)
                # The write that timed out does not wait on, and once the lock is free
                # it is not made after all.
                wait_until(
                    lambda: backend_state(watcher, logger)[1] != "Lock",
                    timeout=3,
                    what="the write to stop waiting",
                )
                release()
            assert error.sqlstate == LOCK_NOT_AVAILABLE
            assert 2 <= ended < 5
            wait_until(lambda: is_idle(watcher, logger), what="the logger to be done")
            assert job_row(watcher, job_id) == (None, None)
