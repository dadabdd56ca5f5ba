"""Jobs whose session ended without ending them are ended as failed, and say why.

A session that crashes, is terminated or loses its client leaves its job with no status
for ever, unless something notices. The next run of the same job name notices (add_job),
and so does job_log_clear(); a job of a session on another server is never judged by a
server that cannot see that session.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    TEMPLATE,
    Cluster,
    add_job,
    scalar,
    started_cluster,
    steps,
    wait_until,
)

SESSION_ENDED = "SESSION ENDED"


@contextlib.contextmanager
def job_session(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    with cluster.connect(db) as session:
        yield session


def job_row(conn: psycopg.Connection, job_id: int) -> tuple[object, ...]:
    row = conn.execute(
        f"SELECT status, end_time, remote_session FROM {SCHEMA}.job_log WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert row is not None
    return row


def abandoned_job(cluster: Cluster, db: str, name: str, *, step: bool = True) -> tuple[int, int]:
    """A job (and a step) logged by a session that then ends without ending it: (job, pid)."""
    with job_session(cluster, db) as session:
        job_id = add_job(session, name)
        if step:
            session.execute(f"SELECT {SCHEMA}.add_step(%s, 'working')", (job_id,))
        pid = session.info.backend_pid
    return job_id, pid


def gone(conn: psycopg.Connection, pid: int) -> bool:
    return not scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))


def test_next_run_of_the_name_ends_a_dead_job_as_failed(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    job_id, pid = abandoned_job(cluster, db, "nightly")
    wait_until(lambda: gone(conn, pid), what="the job's session to end")
    last_step = scalar(
        conn, f"SELECT start_time FROM {SCHEMA}.job_detail WHERE job_id = %s", (job_id,)
    )
    assert job_row(conn, job_id)[0] is None  # nobody has looked yet

    add_job(conn, "nightly")

    status, end_time, remote = job_row(conn, job_id)
    assert (status, remote) == ("CRITICAL", False)
    # Its end is its last sign of life, not the moment it was found dead.
    assert end_time == last_step
    assert steps(conn, job_id)[-1] == (
        SESSION_ENDED,
        "CRITICAL",
        f"The session that ran this job (process ID {pid}) ended without closing it",
    )
    # It is a failure like any other: check_job_status() counts it.
    assert conn.execute(
        f"SELECT job_id, alert_code FROM {SCHEMA}.job_check_log WHERE job_name = 'NIGHTLY'"
    ).fetchall() == [(job_id, 3)]


def test_a_job_with_no_step_ends_at_its_start(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    job_id, pid = abandoned_job(cluster, db, "no steps", step=False)
    wait_until(lambda: gone(conn, pid), what="the job's session to end")
    add_job(conn, "no steps")
    started = scalar(conn, f"SELECT start_time FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
    assert job_row(conn, job_id)[:2] == ("CRITICAL", started)


def test_live_jobs_and_other_names_are_left_alone(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    dead_other, pid = abandoned_job(cluster, db, "other name")
    wait_until(lambda: gone(conn, pid), what="the job's session to end")
    with job_session(cluster, db) as alive:
        # Alive and idle in a transaction of its own: running, however quiet.
        running = add_job(alive, "nightly")
        alive.execute("BEGIN")
        alive.execute("SELECT 1")
        add_job(conn, "nightly")
        assert job_row(conn, running)[0] is None
        assert job_row(conn, dead_other)[0] is None
        alive.execute("ROLLBACK")


def test_a_newer_session_with_the_same_pid_is_not_the_job_s(
    conn: psycopg.Connection,
) -> None:
    # A process ID is reused once its session ends: a live session that started after
    # the job is not the one that ran it.
    job_id = scalar(
        conn,
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
        " SELECT current_user, 'REUSED', backend_start - interval '1 hour', pid"
        " FROM pg_stat_activity WHERE pid = pg_backend_pid() RETURNING job_id",
    )
    add_job(conn, "reused")
    assert job_row(conn, job_id)[0] == "CRITICAL"


def test_job_log_clear_ends_dead_jobs_of_every_name(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    dead = [abandoned_job(cluster, db, name) for name in ("first", "second")]
    wait_until(lambda: all(gone(conn, pid) for _, pid in dead), what="the sessions to end")
    conn.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
    # Too young to be deleted, and ended as failed.
    assert [job_row(conn, job_id)[0] for job_id, _ in dead] == ["CRITICAL", "CRITICAL"]


def test_ending_survives_a_rollback_of_job_log_clear(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    job_id, pid = abandoned_job(cluster, db, "rolled back")
    wait_until(lambda: gone(conn, pid), what="the job's session to end")
    with conn.transaction(force_rollback=True):
        conn.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
    assert job_row(conn, job_id)[0] == "CRITICAL"


def test_a_job_of_a_crashed_server_is_ended_after_the_restart() -> None:
    with started_cluster() as crashing:
        crashing.create_template()
        with crashing.connect() as admin:
            admin.execute(f"CREATE DATABASE jobs TEMPLATE {TEMPLATE}")
        with crashing.connect("jobs") as session, crashing.connect("jobs") as bystander:
            job_id = add_job(session, "crashed")
            # A backend killed outright makes the server reset every session: the
            # bystander's going tells that the reset has begun.
            os.kill(session.info.backend_pid, signal.SIGKILL)
            wait_until(lambda: not answers(bystander), timeout=30, what="the server to reset")

        def restarted() -> bool:
            try:
                with crashing.connect("jobs", connect_timeout=2) as conn:
                    return answers(conn)
            except psycopg.OperationalError:
                return False

        wait_until(restarted, timeout=30, what="the server to restart")
        with crashing.connect("jobs") as conn:
            add_job(conn, "crashed")
            assert job_row(conn, job_id)[0] == "CRITICAL"


def answers(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@pytest.mark.slow
def test_a_job_logged_from_another_server_is_never_judged_dead(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with started_cluster() as logging_server:
        logging_server.create_template()
        with logging_server.connect() as admin:
            admin.execute(f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}")
        conn.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES (%s, %s)",
            (logging_server.node.host, str(logging_server.node.port)),
        )
        remote_job, pid = abandoned_job(cluster, db, "elsewhere")
        wait_until(lambda: gone(conn, pid), what="the job's session to end")
        with logging_server.connect(db) as there:
            assert job_row(there, remote_job)[2] is True
            # The logging server cannot see the job's session: it never ends the job,
            # neither at the next run there nor when clearing the log.
            local_job = add_job(there, "elsewhere")
            assert job_row(there, local_job)[2] is False
            there.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
            # Nor at the next run from the job's own server, whose write is made there.
            add_job(conn, "elsewhere")
            assert job_row(there, remote_job)[0] is None
