"""sql_job: a whole logged job for one statement, never running twice at once."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    backend_state,
    in_background,
    refusal,
    scalar,
    steps,
    wait_until,
)

SUCCESS = "Job logged with job id: {}"
FAILURE = "Job ID {} failed. See job_detail table for more details"


@pytest.fixture
def items(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.items (n integer)")
    conn.execute("INSERT INTO public.items SELECT generate_series(1, 5)")


def sql_job(conn: psycopg.Connection, name: str, sql: str) -> str:
    return str(scalar(conn, f"SELECT {SCHEMA}.sql_job(%s, %s)", (name, sql)))


def job_rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT job_id, job_name, status, end_time IS NOT NULL FROM {SCHEMA}.job_log"
        " ORDER BY job_id"
    ).fetchall()


def unlocked_names(conn: psycopg.Connection) -> int:
    """How many job names have sql_job's lock row, free for the next run to take."""
    return int(
        scalar(
            conn,
            f"SELECT count(*) FROM (SELECT FROM {SCHEMA}.sql_job_lock FOR UPDATE SKIP LOCKED) AS l",
        )
    )


@pytest.mark.usefixtures("items")
def test_success(conn: psycopg.Connection) -> None:
    sql = "UPDATE public.items SET n = 0 WHERE n <> 3"
    assert sql_job(conn, "zero items", sql) == SUCCESS.format(1)
    assert job_rows(conn) == [(1, "ZERO ITEMS", "OK", True)]
    assert steps(conn, 1) == [
        ("Running sql: 'UPDATE public.items SET n = 0 WHERE n <> 3'", "OK", "Rows affected: 4")
    ]


def test_failure(conn: psycopg.Connection) -> None:
    assert sql_job(conn, "broken", "DELETE FROM no_such_table") == FAILURE.format(1)
    assert job_rows(conn) == [(1, "BROKEN", "CRITICAL", True)]
    assert steps(conn, 1) == [
        (
            "Running sql: 'DELETE FROM no_such_table'",
            "CRITICAL",
            'ERROR: relation "no_such_table" does not exist',
        )
    ]


def test_action_quotes_the_statement_as_a_literal(conn: psycopg.Connection) -> None:
    sql = "SELECT 'it''s', E'back\\\\slash'"
    sql_job(conn, "quotes", sql)
    action = scalar(conn, f"SELECT action FROM {SCHEMA}.job_detail")
    assert action == "Running sql: " + str(scalar(conn, "SELECT quote_literal(%s::text)", (sql,)))
    assert action == "Running sql: E'SELECT ''it''''s'', E''back\\\\\\\\slash'''"


@pytest.mark.usefixtures("items")
def test_statement_runs_in_the_callers_transaction(conn: psycopg.Connection) -> None:
    with conn.transaction(force_rollback=True):
        assert sql_job(conn, "undone", "DELETE FROM public.items") == SUCCESS.format(1)
    assert scalar(conn, "SELECT count(*) FROM public.items") == 5
    assert job_rows(conn) == [(1, "UNDONE", "OK", True)]


@pytest.mark.usefixtures("items")
def test_a_second_run_of_a_running_job_runs_nothing(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as first, cluster.connect(db) as second:
        # A row lock held here keeps the first run busy for as long as the test needs.
        conn.execute("BEGIN")
        conn.execute("SELECT * FROM public.items WHERE n = 1 FOR UPDATE")
        blocked = "UPDATE public.items SET n = 10 WHERE n = 1"
        with in_background(first, f"SELECT {SCHEMA}.sql_job('nightly', %s)", (blocked,)) as run:
            wait_until(
                lambda: backend_state(second, first.info.backend_pid)[1] == "Lock",
                what="the first run to wait on the row lock",
            )
            refused = sql_job(second, "Nightly", "INSERT INTO public.items VALUES (99)")
            # Other jobs are not held back by it.
            assert sql_job(second, "other job", "SELECT 1") == SUCCESS.format(3)
            conn.execute("COMMIT")
            assert run.result(timeout=30) == [(SUCCESS.format(1),)]
    assert refused == "Job ID 2 not run: job NIGHTLY is already running concurrently"
    assert scalar(conn, "SELECT count(*) FROM public.items WHERE n = 99") == 0
    assert job_rows(conn) == [
        (1, "NIGHTLY", "OK", True),
        (2, "NIGHTLY", "WARNING", True),
        (3, "OTHER JOB", "OK", True),
    ]
    assert steps(conn, 2) == [
        (
            "Concurrent run check",
            "WARNING",
            "Job NIGHTLY is already running in another session: this run did nothing",
        )
    ]


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1", "SELECT 1 / 0"],
    ids=["after success", "after failure"],
)
def test_the_lock_is_released_when_the_job_ends(
    cluster: Cluster, db: str, conn: psycopg.Connection, sql: str
) -> None:
    with cluster.connect(db) as other:
        sql_job(conn, "once", sql)
        assert sql_job(other, "once", "SELECT 1") == SUCCESS.format(2)
    assert unlocked_names(conn) == 1


def test_the_lock_is_released_and_the_job_ended_when_cancelled(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        sql_job(conn, "too slow", "SELECT pg_sleep(30)")
    conn.execute("RESET statement_timeout")
    assert job_rows(conn) == [(1, "TOO SLOW", "CRITICAL", True)]
    with cluster.connect(db) as other:
        assert sql_job(other, "too slow", "SELECT 1") == SUCCESS.format(2)
    assert unlocked_names(conn) == 1


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ("'j', NULL", psycopg.errors.NullValueNotAllowed, "sql must not be null"),
        ("'j', ''", psycopg.errors.InvalidParameterValue, "sql must not be empty"),
        ("NULL, 'SELECT 1'", psycopg.errors.NullValueNotAllowed, "job name must not be null"),
        ("' ', 'SELECT 1'", psycopg.errors.InvalidParameterValue, "job name must not be empty"),
    ],
)
def test_bad_arguments_are_errors_and_log_nothing(
    conn: psycopg.Connection, args: str, error: type[psycopg.Error], message: str
) -> None:
    assert message in refusal(conn, f"SELECT {SCHEMA}.sql_job({args})", error)
    assert job_rows(conn) == []
