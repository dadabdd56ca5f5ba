"""cancel_job: cancels the session running a job, and only that session."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    add_job,
    backend_state,
    in_background,
    refusal,
    scalar,
    sleeping_job,
    steps,
    wait_until,
)

# 1.5.0's record of a cancel by the test's role.
CANCELLED = f"Manually cancelled via call to {SCHEMA}.cancel_job() by postgres"
# A job that logs itself, then works for a long time.
SLEEPY_JOB = sleeping_job("sleepy")


def cancel_job(conn: psycopg.Connection, job_id: int) -> bool:
    return bool(scalar(conn, f"SELECT {SCHEMA}.cancel_job(%s)", (job_id,)))


def job_row(conn: psycopg.Connection, job_id: int) -> tuple[object, ...] | None:
    return conn.execute(
        f"SELECT status, end_time IS NOT NULL FROM {SCHEMA}.job_log WHERE job_id = %s",
        (job_id,),
    ).fetchone()


def is_sleeping(conn: psycopg.Connection, pid: int) -> bool:
    return backend_state(conn, pid) == ("active", "Timeout")


def test_cancels_a_running_job_and_logs_it(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as worker, in_background(worker, SLEEPY_JOB) as run:
        pid = worker.info.backend_pid
        wait_until(lambda: is_sleeping(conn, pid), what="the job to sleep")
        job_id = int(scalar(conn, f"SELECT job_id FROM {SCHEMA}.job_log"))
        # In named notation, with 1.5.0's parameter name.
        assert scalar(conn, f"SELECT {SCHEMA}.cancel_job(p_job_id => %s)", (job_id,))
        with pytest.raises(psycopg.errors.QueryCanceled):
            run.result(timeout=10)
    assert job_row(conn, job_id) == ("CRITICAL", True)
    # 1.5.0's message, on the step that was running when the job was cancelled.
    assert steps(conn, job_id) == [("sleeping", "CRITICAL", CANCELLED)]


def test_a_finished_step_is_kept_and_the_cancel_gets_a_step_of_its_own(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as worker:
        job_id = add_job(worker, "between steps")
        step = scalar(worker, f"SELECT {SCHEMA}.add_step(%s, 'load')", (job_id,))
        worker.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'loaded')", (step,))
        with in_background(worker, "SELECT pg_sleep(60)") as run:
            wait_until(lambda: is_sleeping(conn, worker.info.backend_pid), what="the sleep")
            assert cancel_job(conn, job_id)
            with pytest.raises(psycopg.errors.QueryCanceled):
                run.result(timeout=10)
    assert steps(conn, job_id) == [("load", "OK", "loaded"), ("CANCEL JOB", "CRITICAL", CANCELLED)]


def test_refuses_a_job_that_has_ended_and_signals_nothing(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as worker:
        job_id = add_job(worker, "done")
        worker.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        with in_background(worker, "SELECT pg_sleep(1.5)") as run:
            wait_until(lambda: is_sleeping(conn, worker.info.backend_pid), what="the sleep")
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
                cancel_job(conn, job_id)
            assert run.result(timeout=10) == [("",)]  # ended, not cancelled
    assert raised.value.diag.message_primary == f"job id {job_id} has already ended"
    assert job_row(conn, job_id) == ("OK", True)


def test_refuses_a_job_whose_pid_now_belongs_to_another_session(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The job's session died without ending it, and its pid went to a newer session."""
    with cluster.connect(db) as innocent:
        pid = innocent.info.backend_pid
        job_id = int(
            scalar(
                conn,
                f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
                " VALUES ('postgres', 'ORPHAN', now() - interval '1 hour', %s)"
                " RETURNING job_id",
                (pid,),
            )
        )
        with in_background(innocent, "SELECT pg_sleep(1.5)") as run:
            wait_until(lambda: is_sleeping(conn, pid), what="the sleep")
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
                cancel_job(conn, job_id)
            assert run.result(timeout=10) == [("",)]  # ended, not cancelled
    assert raised.value.diag.message_primary == f"job id {job_id} is not running in any session"
    assert "no session was signalled" in str(raised.value.diag.message_detail)
    assert job_row(conn, job_id) == (None, False)


def test_refuses_a_job_whose_session_is_gone(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as worker:
        job_id = add_job(worker, "abandoned")
        pid = worker.info.backend_pid
    wait_until(lambda: backend_state(conn, pid) == (None, None), what="the session to end")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
        cancel_job(conn, job_id)
    assert raised.value.diag.message_primary == f"job id {job_id} is not running in any session"


def test_refuses_the_callers_own_job(conn: psycopg.Connection) -> None:
    job_id = add_job(conn, "mine")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
        cancel_job(conn, job_id)
    assert raised.value.diag.message_primary == f"job id {job_id} runs in this session"
    assert job_row(conn, job_id) == (None, False)


@pytest.mark.parametrize(
    ("job_id", "error", "message"),
    [
        (None, psycopg.errors.NullValueNotAllowed, "job id must not be null"),
        (424242, psycopg.errors.NoDataFound, "job id 424242 does not exist"),
    ],
)
def test_bad_job_ids(
    conn: psycopg.Connection, job_id: int | None, error: type[psycopg.Error], message: str
) -> None:
    assert refusal(conn, f"SELECT {SCHEMA}.cancel_job(%s)", error, (job_id,)) == message


def test_a_role_may_only_cancel_what_it_may_signal(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    for role in ("worker", "canceller"):
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")
        conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO {role}")
        conn.execute(
            f"GRANT SELECT ON {SCHEMA}.job_log, {SCHEMA}.job_detail, {SCHEMA}.job_status_text"
            f" TO {role}"
        )
    with (
        cluster.connect(db, user="worker") as worker,
        cluster.connect(db, user="canceller") as canceller,
        in_background(worker, SLEEPY_JOB) as run,
    ):
        wait_until(lambda: is_sleeping(conn, worker.info.backend_pid), what="the job to sleep")
        job_id = int(scalar(conn, f"SELECT job_id FROM {SCHEMA}.job_log"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cancel_job(canceller, job_id)
        assert is_sleeping(conn, worker.info.backend_pid)
        assert job_row(conn, job_id) == (None, False)
        conn.execute("GRANT pg_signal_backend TO canceller")
        assert cancel_job(canceller, job_id)
        with pytest.raises(psycopg.errors.QueryCanceled):
            run.result(timeout=10)
    assert job_row(conn, job_id) == ("CRITICAL", True)
