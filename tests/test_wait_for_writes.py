"""pg_jobmon.wait_for_writes = off: log calls that return once their write is sent.

add_job and add_step still return their ids at once; every write still commits on its
own, in order, whatever becomes of the caller's transaction; a failed write is raised
by a later call of the session (close_job and fail_job wait for all of them), and a
session that ends first neither loses its writes nor drops their errors silently.
The bounds of a waiting write (locks, cancel, terminate) hold for the waits left.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    add_job,
    backend_state,
    in_background,
    runner_role,
    scalar,
    wait_until,
)

ADD_STEP = f"SELECT {SCHEMA}.add_step(%s, %s)"
UPDATE_STEP = f"SELECT {SCHEMA}.update_step(%s, %s, %s)"
CLOSE_JOB = f"SELECT {SCHEMA}.close_job(%s)"
FAIL_JOB = f"SELECT {SCHEMA}.fail_job(%s)"
LOCK_JOB_ROW = f"SELECT FROM {SCHEMA}.job_log WHERE job_id = %s FOR UPDATE"
NO_WAIT = "SELECT set_config('pg_jobmon.wait_for_writes', 'off', false)"
UNREPORTED = (
    f"SELECT caller_pid, caller_role, writes_unreported, first_error"
    f" FROM {SCHEMA}.logging_sessions WHERE ended_at IS NOT NULL"
)


@pytest.fixture
def caller(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A session that logs without waiting."""
    with cluster.connect(db) as connection:
        connection.execute(NO_WAIT)
        yield connection


@pytest.fixture
def reader(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """Another session, to read the log as it is committed."""
    with cluster.connect(db) as connection:
        yield connection


def step_rows(conn: psycopg.Connection, job_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT step_id, action, status, message, end_time >= start_time"
        f" FROM {SCHEMA}.job_detail WHERE job_id = %s ORDER BY step_id",
        (job_id,),
    ).fetchall()


def count_steps(conn: psycopg.Connection, job_id: int) -> int:
    return int(
        scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_detail WHERE job_id = %s", (job_id,))
    )


def committed_job(caller: psycopg.Connection, reader: psycopg.Connection, name: str) -> int:
    """A job added without waiting, once ``reader`` sees its row (to lock it, say)."""
    job_id = add_job(caller, name)
    query = f"SELECT count(*) FROM {SCHEMA}.job_log WHERE job_id = %s"
    wait_until(lambda: scalar(reader, query, (job_id,)) == 1, what="the job's row")
    return job_id


def test_ids_come_at_once_and_every_write_is_made_in_order(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    job_id = add_job(caller, "unwaited")
    step_ids = []
    for number in range(3):
        step_id = int(scalar(caller, ADD_STEP, (job_id, f"step {number}")))
        caller.execute(UPDATE_STEP, (step_id, "OK", f"done {number}"))
        step_ids.append(step_id)
    caller.execute(CLOSE_JOB, (job_id,))
    # close_job returned: every write before it has been answered.
    assert (
        scalar(reader, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)) == "OK"
    )
    assert step_rows(reader, job_id) == [
        (step_id, f"step {number}", "OK", f"done {number}", True)
        for number, step_id in enumerate(step_ids)
    ]
    assert step_ids == sorted(step_ids)
    row = reader.execute(
        f"SELECT job_name, owner, pid FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert row == ("UNWAITED", "postgres", caller.info.backend_pid)


def test_writes_survive_the_callers_rollback(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero), caller.transaction():
        job_id = add_job(caller, "rolled back")
        step_id = int(scalar(caller, ADD_STEP, (job_id, "work")))
        caller.execute(UPDATE_STEP, (step_id, "OK", "done"))
        caller.execute("SELECT 1 / 0")
    wait_until(lambda: count_steps(reader, job_id) == 1, what="the step of a rolled back job")
    wait_until(lambda: step_rows(reader, job_id)[0][2] == "OK", what="the step's update")
    # The ids were not given back by the rollback: the next ones follow them.
    assert int(scalar(caller, ADD_STEP, (job_id, "next"))) > step_id
    caller.execute(CLOSE_JOB, (job_id,))


def test_a_failed_write_is_raised_by_the_next_call(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    job_id = add_job(caller, "failing")
    missing = job_id + 1000
    caller.execute(ADD_STEP, (missing, "lost"))  # returns: its failure comes later
    time.sleep(0.5)  # ample for the answer to reach the caller's socket
    with pytest.raises(psycopg.errors.NoDataFound) as raised:
        caller.execute(ADD_STEP, (job_id, "after"))
    assert str(raised.value.diag.message_primary).endswith(f"job id {missing} does not exist")
    detail = str(raised.value.diag.message_detail)
    assert "sent without waiting" in detail
    assert "this call logged nothing" in detail
    # The failing call wrote nothing, and the session goes on.
    assert count_steps(reader, job_id) == 0
    caller.execute(ADD_STEP, (job_id, "next"))
    caller.execute(CLOSE_JOB, (job_id,))
    assert count_steps(reader, job_id) == 1


def test_close_job_waits_and_reports_every_failure(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    warnings: list[str] = []
    caller.add_notice_handler(lambda notice: warnings.append(str(notice.message_primary)))
    job_id = committed_job(caller, reader, "deleted under its steps")
    with reader.transaction():
        # Both writes wait behind this lock, so neither is answered before close_job;
        # the job is gone once they run.
        reader.execute(LOCK_JOB_ROW, (job_id,))
        caller.execute(ADD_STEP, (job_id, "first"))
        caller.execute(ADD_STEP, (job_id, "second"))
        reader.execute(f"DELETE FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
    with pytest.raises(psycopg.errors.NoDataFound) as raised:
        caller.execute(CLOSE_JOB, (job_id,))
    primary = str(raised.value.diag.message_primary)
    assert primary.endswith(f"job id {job_id} does not exist")
    assert "1 later such writes failed too" in str(raised.value.diag.message_detail)
    assert warnings == [f"a log write sent without waiting failed: job id {job_id} does not exist"]
    assert count_steps(reader, job_id) == 0
    # Every failure was reported: the session logs on.
    caller.execute(CLOSE_JOB, (add_job(caller, "next"),))


def test_another_roles_job_is_refused_by_the_next_call(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    runner_role(conn, "unwaited_runner")
    job_id = add_job(conn, "not yours")
    with cluster.connect(db, user="unwaited_runner") as runner:
        runner.execute(NO_WAIT)
        runner.execute(ADD_STEP, (job_id, "intrusion"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            runner.execute(f"SELECT {SCHEMA}.close_job({SCHEMA}.add_job('mine'))")
    assert count_steps(conn, job_id) == 0


def test_a_session_that_ends_normally_loses_nothing(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    with cluster.connect(db) as session:
        session.execute(NO_WAIT)
        job_id = add_job(session, "ends without close_job")
        # Many writes sent in one statement, then the session ends at once: some are
        # still on their way as it goes.
        session.execute(
            f"SELECT {SCHEMA}.update_step({SCHEMA}.add_step(%s, 'step ' || i), 'OK', 'done')"
            " FROM generate_series(1, 2000) AS i",
            (job_id,),
        )
    wait_until(
        lambda: (
            int(
                scalar(
                    reader,
                    f"SELECT count(*) FROM {SCHEMA}.job_detail WHERE job_id = %s AND status = 'OK'",
                    (job_id,),
                )
            )
            == 2000
        ),
        what="every step written and updated",
    )
    assert not reader.execute(UNREPORTED).fetchall()


def test_a_failure_no_call_raised_is_counted_as_the_session_ends(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    with cluster.connect(db) as session:
        session.execute(NO_WAIT)
        pid = session.info.backend_pid
        session.execute(ADD_STEP, (123456, "nowhere"))
    wait_until(lambda: bool(reader.execute(UNREPORTED).fetchall()), what="the record")
    ((caller_pid, role, unreported, first_error),) = reader.execute(UNREPORTED).fetchall()
    assert (caller_pid, role, unreported) == (pid, "postgres", 1)
    # What failed, not the call's arguments: the job id is not there.
    assert first_error == (
        "add_step: it changed no row: its job or step was missing, or not the caller's"
    )
    assert "pg_jobmon: the session ended with log writes that it did not report" in (
        cluster.log_file.read_text()
    )


def test_a_lock_of_the_callers_own_transaction_still_ends_at_close(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    job_id = committed_job(caller, reader, "self locked")
    started = time.monotonic()
    with pytest.raises(psycopg.errors.DeadlockDetected), caller.transaction():
        caller.execute(LOCK_JOB_ROW, (job_id,))
        caller.execute(ADD_STEP, (job_id, "waits for my lock"))  # returns at once
        caller.execute(CLOSE_JOB, (job_id,))
    assert time.monotonic() - started < 5
    # The write given up on is never made; the session logs on.
    caller.execute(CLOSE_JOB, (job_id,))
    assert count_steps(reader, job_id) == 0


def test_lock_timeout_and_cancel_bound_the_wait_for_pending_writes(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    job_id = committed_job(caller, reader, "other lock")
    caller.execute("SET pg_jobmon.lock_timeout = '1s'")
    with reader.transaction():
        reader.execute(LOCK_JOB_ROW, (job_id,))
        caller.execute(ADD_STEP, (job_id, "waits for another session"))
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            caller.execute(CLOSE_JOB, (job_id,))
        assert time.monotonic() - started < 5
        caller.execute("SET pg_jobmon.lock_timeout = 0")
        caller.execute(ADD_STEP, (job_id, "waits again"))
        with in_background(caller, CLOSE_JOB, (job_id,)) as closing:
            time.sleep(0.5)
            reader.execute("SELECT pg_cancel_backend(%s)", (caller.info.backend_pid,))
            with pytest.raises(psycopg.errors.QueryCanceled):
                closing.result(timeout=5)


def test_a_terminated_session_ends_at_once(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    session = cluster.connect(db)
    try:
        session.execute(NO_WAIT)
        job_id = committed_job(session, reader, "terminated")
        pid = session.info.backend_pid
        with cluster.connect(db) as locker, locker.transaction():
            locker.execute(LOCK_JOB_ROW, (job_id,))
            session.execute(ADD_STEP, (job_id, "stuck behind a lock"))
            started = time.monotonic()
            reader.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(lambda: backend_state(reader, pid) == (None, None), timeout=5)
            assert time.monotonic() - started < 3
    finally:
        session.close()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_the_setting_takes_a_boolean(caller: psycopg.Connection, value: str) -> None:
    caller.execute("SELECT set_config('pg_jobmon.wait_for_writes', %s, false)", (value,))
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        add_job(caller)
    assert 'parameter "pg_jobmon.wait_for_writes" requires a Boolean value' in str(
        raised.value.diag.message_primary
    )


@pytest.mark.parametrize("value", ["on", "TRUE", "yes", "1", " "])
def test_other_values_wait(
    caller: psycopg.Connection, reader: psycopg.Connection, value: str
) -> None:
    caller.execute("SELECT set_config('pg_jobmon.wait_for_writes', %s, false)", (value,))
    job_id = add_job(caller)
    with pytest.raises(psycopg.errors.NoDataFound) as raised:
        caller.execute(ADD_STEP, (job_id + 1000, "refused at once"))
    assert raised.value.diag.message_detail is None  # its own error, not a later call's


def test_at_most_two_writes_are_left_unanswered(
    caller: psycopg.Connection, reader: psycopg.Connection
) -> None:
    job_id = committed_job(caller, reader, "two at most")
    caller.execute("SET pg_jobmon.lock_timeout = '1s'")
    with reader.transaction():
        reader.execute(LOCK_JOB_ROW, (job_id,))
        started = time.monotonic()
        caller.execute(ADD_STEP, (job_id, "first"))  # waits there for the lock
        caller.execute(ADD_STEP, (job_id, "second"))  # queued behind it
        assert time.monotonic() - started < 0.5
        # The third call waits for the first write, as close_job would.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            caller.execute(ADD_STEP, (job_id, "third"))
        assert time.monotonic() - started >= 1


# The cap of the wait for answers as a session ends (session_end.EXIT_WAIT_SECONDS),
# and how many rows unreported_writes keeps (extension/objects/090).
EXIT_WAIT_SECONDS = 5.0
UNREPORTED_LIMIT = 1000
HOUR_LOCK_TIMEOUT = "SET pg_jobmon.lock_timeout = '1h'"


def time_to_end(reader: psycopg.Connection, pid: int) -> float:
    """Seconds until the backend ``pid`` is gone, from now."""
    started = time.monotonic()
    wait_until(lambda: backend_state(reader, pid) == (None, None), timeout=30, what="the end")
    return time.monotonic() - started


def patient_session(
    cluster: Cluster, db: str, reader: psycopg.Connection, name: str
) -> tuple[psycopg.Connection, int]:
    """A session that logs without waiting, with a lock_timeout of an hour, and the id
    of its job ``name``; the caller closes it."""
    session = cluster.connect(db)
    session.execute(NO_WAIT)
    session.execute(HOUR_LOCK_TIMEOUT)
    return session, committed_job(session, reader, name)


@contextlib.contextmanager
def row_locked(cluster: Cluster, db: str, job_id: int) -> Iterator[None]:
    """Another session holds the lock on the job's row that its writes wait for."""
    with cluster.connect(db) as locker, locker.transaction():
        locker.execute(LOCK_JOB_ROW, (job_id,))
        yield


def self_locked_session(
    cluster: Cluster, db: str, reader: psycopg.Connection, name: str
) -> tuple[psycopg.Connection, int]:
    """A patient session in a transaction that holds the lock its unanswered add_step
    waits for; and its job's id."""
    session, job_id = patient_session(cluster, db, reader, name)
    session.execute("BEGIN")
    session.execute(LOCK_JOB_ROW, (job_id,))
    session.execute(ADD_STEP, (job_id, "waits for my own lock"))
    return session, job_id


def test_a_terminated_session_holding_the_lock_its_write_needs_ends_at_once(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    session, _job_id = self_locked_session(cluster, db, reader, "terminated, self locked")
    pid = session.info.backend_pid
    try:
        reader.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert time_to_end(reader, pid) < 2
    finally:
        session.close()


def test_a_session_ending_in_a_transaction_that_blocks_its_write_ends_at_once(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    session, job_id = self_locked_session(cluster, db, reader, "disconnected, self locked")
    pid = session.info.backend_pid
    session.close()  # a normal end: the client leaves in the middle of its transaction
    assert time_to_end(reader, pid) < 2
    # Its transaction was let go of first: the write it blocked was made.
    wait_until(lambda: count_steps(reader, job_id) == 1, what="the step")
    assert not reader.execute(UNREPORTED).fetchall()


@contextlib.contextmanager
def ending_behind_a_lock(cluster: Cluster, db: str, reader: psycopg.Connection) -> Iterator[int]:
    """A patient session that has ended normally with a write that waits for another
    session's lock, held until the block ends; the session's pid."""
    session, job_id = patient_session(cluster, db, reader, "ends behind another lock")
    pid = session.info.backend_pid
    with row_locked(cluster, db, job_id):
        session.execute(ADD_STEP, (job_id, "waits for another session"))
        session.close()
        yield pid


def test_the_wait_as_a_session_ends_has_a_cap_of_its_own(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    with ending_behind_a_lock(cluster, db, reader) as pid:
        took = time_to_end(reader, pid)
    assert EXIT_WAIT_SECONDS - 0.5 < took < EXIT_WAIT_SECONDS + 2
    log = cluster.log_file.read_text()
    assert "failed without being raised and 1 got no answer" in log


def test_a_terminate_ends_the_wait_as_a_session_ends(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    with ending_behind_a_lock(cluster, db, reader) as pid:
        time.sleep(0.5)
        assert backend_state(reader, pid) != (None, None)  # still waiting as it ends
        reader.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert time_to_end(reader, pid) < 1.5
    # It gave the write up, and said so.
    said = [line for line in cluster.log_file.read_text().splitlines() if f"[{pid}]" in line]
    assert any("the session ended with log writes that it did not report" in x for x in said)


def test_a_session_terminated_while_close_job_waits_ends_at_once(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    session, job_id = patient_session(cluster, db, reader, "terminated in close_job")
    pid = session.info.backend_pid
    try:
        with row_locked(cluster, db, job_id):
            session.execute("BEGIN")
            session.execute(ADD_STEP, (job_id, "waits for another session"))
            with in_background(session, CLOSE_JOB, (job_id,)) as closing:
                time.sleep(0.5)
                reader.execute("SELECT pg_terminate_backend(%s)", (pid,))
                assert time_to_end(reader, pid) < 2
                with pytest.raises(psycopg.OperationalError):
                    closing.result(timeout=10)
        # It ended as it exits, in the middle of a call: the server did not restart.
        assert scalar(reader, "SELECT 1") == 1
        assert "terminated by signal" not in cluster.log_file.read_text()
    finally:
        session.close()


def doomed_write(
    caller: psycopg.Connection, reader: psycopg.Connection, deleted: str
) -> tuple[int, str, str, tuple[object, ...]]:
    """A committed row of the log (a job, or a step), the statement that deletes it, and
    a write to it: (its id, the delete, the write, the write's parameters)."""
    job_id = committed_job(caller, reader, "deleted under its write")
    if deleted == "job":
        delete = f"DELETE FROM {SCHEMA}.job_log WHERE job_id = %s"
        return job_id, delete, ADD_STEP, (job_id, "fails while close_job waits")
    step_id = int(scalar(caller, ADD_STEP, (job_id, "updated too late")))
    wait_until(lambda: count_steps(reader, job_id) == 1, what="the step")
    delete = f"DELETE FROM {SCHEMA}.job_detail WHERE step_id = %s"
    return step_id, delete, UPDATE_STEP, (step_id, "OK", "fails while close_job waits")


# A write to a deleted job fails with the server's error (23503, which reads as P0002); an
# update of a deleted step changes no row, and the WARNING looks up why.
@pytest.mark.parametrize("deleted", ["job", "step"])
def test_a_timeout_during_close_job_reports_what_it_gives_up(
    cluster: Cluster,
    db: str,
    caller: psycopg.Connection,
    reader: psycopg.Connection,
    deleted: str,
) -> None:
    warnings: list[str] = []
    caller.add_notice_handler(lambda notice: warnings.append(str(notice.message_primary)))
    doomed, delete, write, params = doomed_write(caller, reader, deleted)
    mine = committed_job(caller, reader, "closed too late")
    with cluster.connect(db) as deleter, cluster.connect(db) as locker:
        deleter.execute("BEGIN")
        deleter.execute(delete, (doomed,))
        locker.execute("BEGIN")
        locker.execute(LOCK_JOB_ROW, (mine,))
        # Both wait there: the first fails once the delete commits, the second stays.
        caller.execute(write, params)
        step_id = int(scalar(caller, ADD_STEP, (mine, "given up")))
        caller.execute("SET statement_timeout = '2s'")
        with in_background(caller, CLOSE_JOB, (mine,)) as closing:
            time.sleep(0.5)
            deleter.execute("COMMIT")
            with pytest.raises(psycopg.errors.QueryCanceled):
                closing.result(timeout=10)
        locker.execute("ROLLBACK")
    failed = f"a log write sent without waiting failed: {deleted} id {doomed} does not exist"
    assert failed in warnings
    assert any(f"was given up: add_step({mine}, ...) for step {step_id}" in w for w in warnings)
    # Reported once: the session goes on, and its end has nothing left to record.
    caller.execute("SET statement_timeout = 0")
    caller.execute(CLOSE_JOB, (mine,))
    pid = caller.info.backend_pid
    caller.close()
    time_to_end(reader, pid)
    assert not reader.execute(UNREPORTED).fetchall()


def test_unreported_writes_keeps_the_failure_not_the_callers_arguments(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    reader.execute(
        f"ALTER TABLE {SCHEMA}.job_log ADD CONSTRAINT names_checked"
        " CHECK (job_name NOT LIKE 'SECRET%')"
    )
    with cluster.connect(db) as session:
        session.execute(NO_WAIT)
        add_job(session, "SECRET-" + "x" * 5000)
    wait_until(lambda: bool(reader.execute(UNREPORTED).fetchall()), what="the record")
    row = reader.execute(
        f"SELECT first_call, first_sqlstate, first_error FROM {SCHEMA}.unreported_writes"
    ).fetchone()
    assert row == (
        "add_job",
        "23514",
        'new row for relation "job_log" violates check constraint "names_checked"',
    )
    for relation in ("unreported_writes", "logging_sessions"):
        leaked = f"SELECT count(*) FROM {SCHEMA}.{relation} AS r WHERE r::text ILIKE %s"
        assert scalar(reader, leaked, ("%secret%",)) == 0


def test_unreported_writes_bounds_the_message(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    reader.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION '%', repeat('long ', 1000); END $$"
    )
    reader.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON {SCHEMA}.job_log"
        " FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    with cluster.connect(db) as session:
        session.execute(NO_WAIT)
        add_job(session, "refused")
    wait_until(lambda: bool(reader.execute(UNREPORTED).fetchall()), what="the record")
    row = reader.execute(
        f"SELECT first_sqlstate, first_error FROM {SCHEMA}.unreported_writes"
    ).fetchone()
    assert row == ("P0001", "long " * 40)  # its first 200 characters


def test_unreported_writes_keeps_the_latest_rows_only(
    cluster: Cluster, db: str, reader: psycopg.Connection
) -> None:
    reader.execute(
        f"INSERT INTO {SCHEMA}.unreported_writes (ended_at, caller_pid, writes_failed)"
        " SELECT now() - interval '1 day', -i, 1 FROM generate_series(1, %s) AS i",
        (UNREPORTED_LIMIT,),
    )
    pids: list[int] = []
    recorded = f"SELECT count(*) FROM {SCHEMA}.unreported_writes WHERE caller_pid = %s"
    for _ in range(3):
        with cluster.connect(db) as session:
            session.execute(NO_WAIT)
            pids.append(session.info.backend_pid)
            session.execute(ADD_STEP, (123456, "nowhere"))
        wait_until(lambda: scalar(reader, recorded, (pids[-1],)) == 1, what="the record")
    assert scalar(reader, f"SELECT count(*) FROM {SCHEMA}.unreported_writes") == UNREPORTED_LIMIT
    latest = reader.execute(
        f"SELECT caller_pid FROM {SCHEMA}.unreported_writes ORDER BY ended_at DESC LIMIT 3"
    ).fetchall()
    assert sorted(pid for (pid,) in latest) == sorted(pids)


@pytest.mark.parametrize(
    "statement",
    [
        f"INSERT INTO {SCHEMA}.unreported_writes (caller_pid, writes_failed) VALUES (1, 1)",
        f"DELETE FROM {SCHEMA}.unreported_writes",
    ],
)
def test_a_job_runner_neither_adds_nor_deletes_unreported_writes(
    cluster: Cluster, db: str, conn: psycopg.Connection, statement: str
) -> None:
    runner_role(conn, "unwaited_runner")
    with (
        cluster.connect(db, user="unwaited_runner") as runner,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        runner.execute(statement)
