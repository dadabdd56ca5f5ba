"""Only members of a job's owner role write to the job: steps, updates, its end."""

from __future__ import annotations

from typing import Any

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

# alice owns the jobs; her_deputy is a member of alice; bob is neither; signaller may
# signal every session (pg_signal_backend) but is no member of alice either.
ROLES = ("alice", "bob", "her_deputy", "signaller")


@pytest.fixture
def roles(conn: psycopg.Connection) -> None:
    """The roles, each with a job runner's grants in this test's database."""
    for role in ROLES:
        runner_role(conn, role)
        conn.execute(
            f"GRANT SELECT ON {SCHEMA}.job_log, {SCHEMA}.job_detail, {SCHEMA}.job_status_text"
            f" TO {role}"
        )
    conn.execute("GRANT alice TO her_deputy")
    conn.execute("GRANT pg_signal_backend TO signaller")


def failed_job(cluster: Cluster, db: str) -> tuple[int, int]:
    """A job of alice's that failed, so that it alerts: its job id and its step's id."""
    with cluster.connect(db, user="alice") as alice:
        job_id = add_job(alice, "nightly load")
        step_id = int(scalar(alice, f"SELECT {SCHEMA}.add_step(%s, 'load')", (job_id,)))
        alice.execute(f"SELECT {SCHEMA}.update_step(%s, 'CRITICAL', 'load failed')", (step_id,))
        alice.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
    return job_id, step_id


def primary(error: psycopg.Error) -> str:
    """The primary message of one of pg_jobmon's own errors, without PL/Python's prefix."""
    return str(error.diag.message_primary).removeprefix("plpy.Error: ")


def log_state(conn: psycopg.Connection) -> list[list[tuple[Any, ...]]]:
    """Every row of job_log, job_detail and job_check_log."""
    return [
        conn.execute(f"SELECT * FROM {SCHEMA}.{table} ORDER BY 1").fetchall()
        for table in ("job_log", "job_detail", "job_check_log")
    ]


WRITES = {
    "add_step": "SELECT {schema}.add_step(%(job)s, 'not mine')",
    "update_step": "SELECT {schema}.update_step(%(step)s, 'OK', 'not mine')",
    "close_job": "SELECT {schema}.close_job(%(job)s)",
    "fail_job": "SELECT {schema}.fail_job(%(job)s, 2)",
    "sql_step": "SELECT {schema}.sql_step(%(job)s, 'not mine', 'SELECT 1')",
}


def write(conn: psycopg.Connection, call: str, job_id: int, step_id: int) -> None:
    conn.execute(WRITES[call].format(schema=SCHEMA), {"job": job_id, "step": step_id})


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("call", WRITES)
def test_a_role_cannot_write_to_a_job_of_a_role_it_is_not_a_member_of(
    cluster: Cluster, db: str, conn: psycopg.Connection, call: str
) -> None:
    job_id, step_id = failed_job(cluster, db)
    before = log_state(conn)
    assert before[2], "the failed job alerts"
    with (
        cluster.connect(db, user="bob") as bob,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as raised,
    ):
        write(bob, call, job_id, step_id)
    diag = raised.value.diag
    assert primary(raised.value) == f"permission denied for job {job_id}"
    assert diag.message_detail == (
        f'Job {job_id} belongs to role "alice"; role "bob" is not a member of it.'
    )
    assert 'GRANT "alice" TO "bob"' in str(diag.message_hint)
    # Nothing written: no step, no status, and the alert stands.
    assert log_state(conn) == before


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("writer", ["her_deputy", "postgres"])
def test_a_member_of_the_owner_and_a_superuser_write_to_the_job(
    cluster: Cluster, db: str, conn: psycopg.Connection, writer: str
) -> None:
    job_id, step_id = failed_job(cluster, db)
    with cluster.connect(db, user=writer) as member:
        for call in ("update_step", "add_step", "sql_step", "close_job"):
            write(member, call, job_id, step_id)
    assert conn.execute(
        f"SELECT action, status, message FROM {SCHEMA}.job_detail ORDER BY step_id"
    ).fetchall() == [
        ("load", "OK", "not mine"),
        ("not mine", None, None),
        ("not mine", "OK", "Rows affected: 1"),
    ]
    assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log") == "OK"
    # The good end clears the job's alert, as the owner's close_job would.
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_check_log") == 0


@pytest.mark.usefixtures("roles")
def test_a_job_whose_owner_role_is_gone_is_refused_without_an_error_of_its_own(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """pg_has_role() raises on an unknown role; the write must refuse plainly instead."""
    job_id = int(
        scalar(
            conn,
            f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
            " VALUES ('dropped_role', 'ORPHAN', now(), 0) RETURNING job_id",
        )
    )
    with (
        cluster.connect(db, user="bob") as bob,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as raised,
    ):
        bob.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert raised.value.diag.message_detail == (
        f'Job {job_id} belongs to role "dropped_role"; role "bob" is not a member of it.'
    )
    # A superuser is a member of every role, one that no longer exists included.
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log") == "OK"


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize(
    ("call", "key", "message"),
    [
        ("add_step", "job", "job id 424242 does not exist"),
        ("update_step", "step", "step id 424242 does not exist"),
        ("close_job", "job", "job id 424242 does not exist"),
    ],
)
def test_a_missing_job_or_step_is_still_reported_as_missing(
    cluster: Cluster, db: str, call: str, key: str, message: str
) -> None:
    with (
        cluster.connect(db, user="bob") as bob,
        pytest.raises(psycopg.errors.NoDataFound) as raised,
    ):
        bob.execute(WRITES[call].format(schema=SCHEMA), {key: 424242})
    assert primary(raised.value) == message


@pytest.mark.usefixtures("roles")
def test_who_may_signal_a_jobs_session_cancels_it_and_the_cancel_is_recorded(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    sleepy_job = (
        f"DO $$ DECLARE v_job bigint := {SCHEMA}.add_job('sleepy');"
        f" BEGIN PERFORM {SCHEMA}.add_step(v_job, 'sleeping'); PERFORM pg_sleep(60); END $$"
    )
    with (
        cluster.connect(db, user="alice") as alice,
        cluster.connect(db, user="signaller") as signaller,
        cluster.connect(db, user="bob") as bob,
        in_background(alice, sleepy_job) as run,
    ):
        pid = alice.info.backend_pid
        wait_until(lambda: backend_state(conn, pid) == ("active", "Timeout"), what="the sleep")
        job_id = int(scalar(conn, f"SELECT job_id FROM {SCHEMA}.job_log"))
        # Neither may write to alice's job themselves.
        for role in (signaller, bob):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                role.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
        # bob may not signal alice's session: cancel_job and its helper are refused.
        for function in ("cancel_job", "_cancel_running_job"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bob.execute(f"SELECT {SCHEMA}.{function}(%s)", (job_id,))
        assert backend_state(conn, pid) == ("active", "Timeout")
        assert scalar(signaller, f"SELECT {SCHEMA}.cancel_job(%s)", (job_id,))
        with pytest.raises(psycopg.errors.QueryCanceled):
            run.result(timeout=10)
    assert conn.execute(
        f"SELECT owner, status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
    ).fetchone() == ("alice", "CRITICAL")
    assert conn.execute(
        f"SELECT action, status, message FROM {SCHEMA}.job_detail WHERE job_id = %s",
        (job_id,),
    ).fetchall() == [
        (
            "sleeping",
            "CRITICAL",
            f"Manually cancelled via call to {SCHEMA}.cancel_job() by signaller",
        )
    ]


@pytest.mark.usefixtures("roles")
def test_an_admin_role_that_holds_the_owner_role_ends_its_jobs(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The admin role of the docs: NOINHERIT, holding alice, granted to a DBA."""
    conn.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jobmon_admin')"
        " THEN CREATE ROLE jobmon_admin NOLOGIN NOINHERIT; CREATE ROLE admin_dba LOGIN;"
        " END IF; END $$"
    )
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO jobmon_admin")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO jobmon_admin")
    conn.execute("GRANT jobmon_admin TO admin_dba")
    job_id, _ = failed_job(cluster, db)
    with cluster.connect(db, user="admin_dba") as dba:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dba.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        conn.execute("GRANT alice TO jobmon_admin")
        try:
            dba.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        finally:
            conn.execute("REVOKE alice FROM jobmon_admin")
    assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log") == "OK"
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_check_log") == 0


def test_the_role_of_each_write_is_the_current_one(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """SET ROLE within a transaction, and a rename between two, change whom writes are for."""
    conn.execute("DROP ROLE IF EXISTS renamed_owner")
    conn.execute("CREATE ROLE owner_before_rename")
    conn.execute("GRANT owner_before_rename TO CURRENT_USER")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO owner_before_rename")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO owner_before_rename")
    with conn.transaction():
        mine = add_job(conn, "mine")
        conn.execute("SET LOCAL ROLE owner_before_rename")
        theirs = add_job(conn, "theirs")
        conn.execute(f"SELECT {SCHEMA}.add_step(%s, 'own step')", (theirs,))
    conn.execute("ALTER ROLE owner_before_rename RENAME TO renamed_owner")
    conn.execute("SET ROLE renamed_owner")
    renamed = add_job(conn, "after the rename")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (mine,))
    conn.execute("RESET ROLE")
    owners = conn.execute(f"SELECT job_id, owner FROM {SCHEMA}.job_log ORDER BY job_id").fetchall()
    assert owners == [
        (mine, "postgres"),
        (theirs, "owner_before_rename"),
        (renamed, "renamed_owner"),
    ]
    conn.execute("DROP OWNED BY renamed_owner")
    conn.execute("DROP ROLE renamed_owner")
