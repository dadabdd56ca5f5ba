"""No role ends, locks or deletes what is not its own, through what pg_jobmon lets it call.

A role with USAGE on the schema and no grant, or a runner with the README's grants, must
not be able to end another session's live job, hold the rows that job's log calls need,
or push another role's runs out of the history; and a job logged from more than one
backend (a transaction-mode pooler) is never taken for the job of a dead session.
"""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, runner_role, scalar, steps

BYSTANDER = "usage_only"
RUNNER = "hostile_runner"
VICTIM = "victim_runner"
SESSION_ENDED = "SESSION ENDED"


@pytest.fixture
def roles(conn: psycopg.Connection) -> None:
    conn.execute(
        "DO $$ BEGIN"
        f" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BYSTANDER}') THEN"
        f" CREATE ROLE {BYSTANDER} LOGIN; END IF; END $$"
    )
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {BYSTANDER}")
    for role in (RUNNER, VICTIM):
        runner_role(conn, role)
        conn.execute(
            f"GRANT SELECT ON {SCHEMA}.job_log, {SCHEMA}.job_detail, {SCHEMA}.job_status_text"
            f" TO {role}"
        )
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_retention (job_name, keep_succeeded, keep_failed, keep_runs)"
        " VALUES ('*', '30 days', '1 year', 5)"
    )


def status_of(conn: psycopg.Connection, job_id: int) -> object:
    return scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))


def run_jobs(conn: psycopg.Connection, name: str, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        job_id = add_job(conn, name)
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        ids.append(job_id)
    return ids


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("role", [BYSTANDER, RUNNER])
def test_only_the_logging_role_may_run_retention(cluster: Cluster, db: str, role: str) -> None:
    """Retention ends dead jobs and locks rows in the transaction that runs it: a role
    without grants cannot run it at all, and a runner's EXECUTE (ALL FUNCTIONS) is refused
    by the function itself."""
    with cluster.connect(db, user=role) as hostile:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            hostile.execute(f"SELECT {SCHEMA}._apply_retention('NIGHTLY')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            hostile.execute(f"SELECT {SCHEMA}._apply_retention('NIGHTLY', %s)", (VICTIM,))


@pytest.mark.usefixtures("roles")
def test_a_frozen_view_of_sessions_ends_no_live_job(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A transaction that read the list of sessions before the victim's session started
    still sees that session alive: PostgreSQL's first read of the list is not reused."""
    with conn.transaction():
        scalar(conn, f"SELECT count(*) FROM {SCHEMA}._live_backends()")
        with cluster.connect(db, user=VICTIM) as victim:
            job_id = add_job(victim, "nightly")
            victim.execute(f"SELECT {SCHEMA}.add_step(%s, 'working')", (job_id,))
            running = conn.execute(f"SELECT job_id FROM {SCHEMA}._running_jobs()").fetchall()
            assert running == [(job_id,)]
            assert scalar(conn, f"SELECT {SCHEMA}._end_dead_jobs('NIGHTLY')") == 0
            assert scalar(conn, f"SELECT {SCHEMA}._apply_retention('NIGHTLY', %s)", (VICTIM,)) == 0
            assert status_of(conn, job_id) is None
            # The victim's own calls are not held up by that transaction.
            victim.execute(f"SELECT {SCHEMA}.add_step(%s, 'more')", (job_id,))
            victim.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert status_of(conn, job_id) == "OK"
    assert [action for action, _, _ in steps(conn, job_id)] == ["working", "more"]


@pytest.mark.usefixtures("roles")
def test_keep_runs_counts_each_roles_runs_apart(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db, user=VICTIM) as victim:
        kept = run_jobs(victim, "shared name", 5)
    with cluster.connect(db, user=RUNNER) as runner:
        own = run_jobs(runner, "shared name", 7)
    by_owner = conn.execute(
        f"SELECT owner, array_agg(job_id ORDER BY job_id) FROM {SCHEMA}.job_log"
        " WHERE job_name = 'SHARED NAME' GROUP BY owner ORDER BY owner"
    ).fetchall()
    # The runner's own runs beyond keep_runs went; none of the victim's did.
    assert by_owner == [(RUNNER, own[-5:]), (VICTIM, kept)]


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize("first_write", ["add_step", "update_step"])
def test_a_job_logged_from_another_backend_is_never_ended_as_dead(
    cluster: Cluster, db: str, conn: psycopg.Connection, first_write: str
) -> None:
    """As through a transaction-mode pooler: each transaction of one client on any
    backend, and the backend that ran add_job retired while the job goes on."""
    with cluster.connect(db, user=VICTIM) as retired:
        job_id = add_job(retired, "pooled")
        step_id = scalar(retired, f"SELECT {SCHEMA}.add_step(%s, 'first')", (job_id,))
    with cluster.connect(db, user=VICTIM) as backend:
        if first_write == "add_step":
            backend.execute(f"SELECT {SCHEMA}.add_step(%s, 'second')", (job_id,))
        else:
            backend.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step_id,))
        # The next run of the name, by anyone, and job_log_clear() judge the dead.
        other = add_job(conn, "pooled")
        conn.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
        assert status_of(conn, job_id) is None
        assert SESSION_ENDED not in [action for action, _, _ in steps(conn, job_id)]
        backend.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert status_of(conn, job_id) == "OK"
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (other,))


@pytest.mark.usefixtures("roles")
def test_only_the_jobs_owner_marks_it_logged_elsewhere(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A write refused to another role marks nothing: its dead job is still ended."""
    with cluster.connect(db, user=VICTIM) as gone:
        job_id = add_job(gone, "abandoned")
    with (
        cluster.connect(db, user=RUNNER) as runner,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        runner.execute(f"SELECT {SCHEMA}.add_step(%s, 'not mine')", (job_id,))
    add_job(conn, "abandoned")
    assert status_of(conn, job_id) == "CRITICAL"
    assert steps(conn, job_id)[-1][0] == SESSION_ENDED
