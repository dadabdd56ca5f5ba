"""A role without pg_jobmon grants cannot hold the locks that sql_job and escalation take."""

from __future__ import annotations

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
    scalar,
    steps,
    wait_until,
)

SUCCESS = "Job logged with job id: {}"
REFUSED = "Job ID {} not run: job NIGHTLY is already running concurrently"
# The advisory lock keys that 1.5.0 and earlier 2.0.0 builds took, published in the docs.
OLD_SQL_JOB_KEY = "hashtext('pg_jobmon sql_job'), hashtext(%s)"
OLD_ESCALATION_KEY = "hashtext('pg_jobmon escalation'), hashtext(%s)"


@pytest.fixture
def squatter(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of a role that has no grant at all on pg_jobmon's schema or objects."""
    conn.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'squatter')"
        " THEN CREATE ROLE squatter LOGIN; END IF; END $$"
    )
    with cluster.connect(db, user="squatter") as session:
        yield session


def sql_job(conn: psycopg.Connection, name: str, sql: str) -> str:
    return str(scalar(conn, f"SELECT {SCHEMA}.sql_job(%s, %s)", (name, sql)))


def test_a_role_without_grants_cannot_make_sql_job_skip_its_work(
    conn: psycopg.Connection, squatter: psycopg.Connection
) -> None:
    squatter.execute(f"SELECT pg_advisory_lock({OLD_SQL_JOB_KEY})", ("NIGHTLY",))
    # Neither the first run of a name (its lock row is made) nor a later one is held back.
    assert sql_job(conn, "nightly", "SELECT 1") == SUCCESS.format(1)
    for attempt in (
        f"SELECT * FROM {SCHEMA}.sql_job_lock FOR UPDATE",
        f"SELECT * FROM {SCHEMA}.sql_job_lock FOR KEY SHARE",
        f"SELECT {SCHEMA}._lock_sql_job('NIGHTLY')",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            squatter.execute(attempt)
    assert sql_job(conn, "nightly", "SELECT 1") == SUCCESS.format(2)
    assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log ORDER BY job_id").fetchall() == [
        ("OK",),
        ("OK",),
    ]


def test_a_role_without_grants_cannot_delay_the_failure_of_an_escalating_job(
    conn: psycopg.Connection, squatter: psycopg.Connection
) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_check_config (job_name, warn_threshold, error_threshold,"
        " active, escalate) VALUES ('NIGHTLY', '1 day', '2 days', true, 2)"
    )
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE')")
    squatter.execute(f"SELECT pg_advisory_lock({OLD_ESCALATION_KEY})", ("NIGHTLY",))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        squatter.execute(f"SELECT * FROM {SCHEMA}.job_check_config FOR KEY SHARE")
    # A wait would end in an error after this long, instead of the failure's record.
    conn.execute("SET pg_jobmon.lock_timeout = '3s'")
    started = time.monotonic()
    for _ in range(2):
        conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (add_job(conn, "nightly"),))
    assert time.monotonic() - started < 2
    # Recorded, and escalated at the second alert as configured.
    assert conn.execute(
        f"SELECT job_id, alert_code FROM {SCHEMA}.job_check_log ORDER BY job_id"
    ).fetchall() == [(1, 3), (2, 4)]
    assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log ORDER BY job_id").fetchall() == [
        ("CRITICAL",),
        ("ESCALATED",),
    ]


def test_two_runs_of_a_name_that_ran_before_give_one_run_and_one_refusal(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The name's lock row exists: the second run finds it locked and skips at once."""
    assert sql_job(conn, "nightly", "SELECT 1") == SUCCESS.format(1)
    with cluster.connect(db) as first, cluster.connect(db) as second:
        conn.execute("CREATE TABLE public.gate (n integer)")
        conn.execute("INSERT INTO public.gate VALUES (1)")
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM public.gate FOR UPDATE")
        blocked = "UPDATE public.gate SET n = 2"
        with in_background(first, f"SELECT {SCHEMA}.sql_job('nightly', %s)", (blocked,)) as run:
            wait_until(
                lambda: backend_state(second, first.info.backend_pid)[1] == "Lock",
                what="the first run to wait on the row lock",
            )
            started = time.monotonic()
            assert sql_job(second, "nightly", "SELECT 1") == REFUSED.format(3)
            assert time.monotonic() - started < 1
            conn.execute("COMMIT")
            assert run.result(timeout=30) == [(SUCCESS.format(2),)]
    assert steps(conn, 3) == [
        (
            "Concurrent run check",
            "WARNING",
            "Job NIGHTLY is already running in another session: this run did nothing",
        )
    ]
