"""sql_step: a logged step whose statement runs in the caller's session and transaction."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, refusal, scalar
from readme import reference_sql


@pytest.fixture
def job_id(conn: psycopg.Connection) -> int:
    conn.execute("CREATE TABLE public.items (n integer)")
    conn.execute("INSERT INTO public.items SELECT generate_series(1, 5)")
    return add_job(conn, "sql steps")


def sql_step(conn: psycopg.Connection, job_id: int, action: str, sql: str) -> bool:
    return bool(scalar(conn, f"SELECT {SCHEMA}.sql_step(%s, %s, %s)", (job_id, action, sql)))


def steps(conn: psycopg.Connection, job_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT action, status, message, end_time IS NOT NULL FROM {SCHEMA}.job_detail"
        " WHERE job_id = %s ORDER BY step_id",
        (job_id,),
    ).fetchall()


def test_success_logs_the_rows_affected(conn: psycopg.Connection, job_id: int) -> None:
    assert sql_step(conn, job_id, "bump", "UPDATE public.items SET n = n + 10 WHERE n > 2")
    assert steps(conn, job_id) == [("bump", "OK", "Rows affected: 3", True)]
    assert scalar(conn, "SELECT sum(n) FROM public.items") == 15 + 30


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("DO $$BEGIN ASSERT false; END$$", psycopg.errors.AssertFailure, "ERROR: assertion failed"),
        (
            "SELECT pg_sleep(5)",
            psycopg.errors.QueryCanceled,
            "ERROR: canceling statement due to statement timeout",
        ),
    ],
)
def test_a_cancel_or_a_failed_assertion_stops_the_caller_and_closes_the_step(
    conn: psycopg.Connection, job_id: int, sql: str, error: type[psycopg.Error], message: str
) -> None:
    conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(error):
        sql_step(conn, job_id, "stopped", sql)
    conn.execute("RESET statement_timeout")
    assert steps(conn, job_id) == [("stopped", "CRITICAL", message, True)]


def test_failure_is_logged_and_the_callers_transaction_goes_on(
    conn: psycopg.Connection, job_id: int
) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO public.items VALUES (100)")
        assert not sql_step(conn, job_id, "divide", "UPDATE public.items SET n = n / 0")
        # The caller's transaction is not aborted: its earlier work commits.
        conn.execute("INSERT INTO public.items VALUES (200)")
    assert steps(conn, job_id) == [("divide", "CRITICAL", "ERROR: division by zero", True)]
    assert scalar(conn, "SELECT sum(n) FROM public.items") == 15 + 300


def test_a_failed_statement_rolls_back_alone(conn: psycopg.Connection, job_id: int) -> None:
    failing = "INSERT INTO public.items VALUES (1000); SELECT 1 / 0"
    assert not sql_step(conn, job_id, "half done", failing)
    assert scalar(conn, "SELECT count(*) FROM public.items WHERE n = 1000") == 0


def test_statement_sees_the_callers_uncommitted_rows_and_temp_tables(
    conn: psycopg.Connection, job_id: int
) -> None:
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE scratch AS SELECT n FROM public.items")
        conn.execute("INSERT INTO scratch VALUES (6), (7)")
        assert sql_step(conn, job_id, "temp", "DELETE FROM scratch WHERE n > 5")
    assert steps(conn, job_id) == [("temp", "OK", "Rows affected: 2", True)]


def test_statement_commits_and_rolls_back_with_the_caller(
    conn: psycopg.Connection, job_id: int
) -> None:
    with conn.transaction(force_rollback=True):
        assert sql_step(conn, job_id, "undone", "DELETE FROM public.items")
        assert scalar(conn, "SELECT count(*) FROM public.items") == 0
    assert scalar(conn, "SELECT count(*) FROM public.items") == 5
    # The step itself was written autonomously, so it outlives the rollback.
    assert steps(conn, job_id) == [("undone", "OK", "Rows affected: 5", True)]


def test_statement_runs_with_the_callers_rights(
    cluster: Cluster, db: str, conn: psycopg.Connection, job_id: int
) -> None:
    conn.execute("CREATE ROLE step_runner LOGIN")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO step_runner")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO step_runner")
    with cluster.connect(db, user="step_runner") as runner:
        # A job of its own: the fixture's job is another role's, not to be written to.
        own_job = add_job(runner, "not mine")
        assert not sql_step(runner, own_job, "not mine", "DELETE FROM public.items")
    assert steps(conn, own_job) == [
        ("not mine", "CRITICAL", "ERROR: permission denied for table items", True)
    ]
    assert scalar(conn, "SELECT count(*) FROM public.items") == 5


def test_statement_uses_the_callers_search_path(conn: psycopg.Connection, job_id: int) -> None:
    conn.execute("CREATE SCHEMA app")
    conn.execute("CREATE TABLE app.orders (id integer)")
    conn.execute("SET search_path = app, public")
    assert sql_step(conn, job_id, "unqualified", "INSERT INTO orders VALUES (1), (2)")
    assert scalar(conn, "SELECT count(*) FROM app.orders") == 2
    assert scalar(conn, "SHOW search_path") == "app, public"


def test_select_reports_the_rows_it_returned(conn: psycopg.Connection, job_id: int) -> None:
    assert sql_step(conn, job_id, "read", "SELECT * FROM public.items")
    assert steps(conn, job_id) == [("read", "OK", "Rows affected: 5", True)]


def test_hostile_sql_text_is_the_statement_and_nothing_more(
    conn: psycopg.Connection, job_id: int
) -> None:
    """The text runs as given; quoting tricks cannot reach the step's own writes."""
    hostile = "SELECT $$'); DELETE FROM jobmon.job_detail; --$$"
    assert sql_step(conn, job_id, hostile, hostile)
    assert steps(conn, job_id) == [(hostile, "OK", "Rows affected: 1", True)]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ("{job}, 'a', NULL", psycopg.errors.NullValueNotAllowed, "sql must not be null"),
        ("{job}, 'a', '  '", psycopg.errors.InvalidParameterValue, "sql must not be empty"),
        ("NULL, 'a', 'SELECT 1'", psycopg.errors.NullValueNotAllowed, "job id must not be null"),
        ("{job}, NULL, 'SELECT 1'", psycopg.errors.NullValueNotAllowed, "action must not be"),
        ("424242, 'a', 'SELECT 1'", psycopg.errors.NoDataFound, "job id 424242 does not exist"),
    ],
)
def test_bad_arguments_are_errors_and_run_nothing(
    conn: psycopg.Connection, job_id: int, args: str, error: type[psycopg.Error], message: str
) -> None:
    call = f"SELECT {SCHEMA}.sql_step({args.format(job=job_id)})"
    assert message in refusal(conn, call, error)
    assert steps(conn, job_id) == []


@pytest.mark.parametrize("failing", [False, True], ids=["both steps run", "second fails"])
def test_reference_example(conn: psycopg.Connection, failing: bool) -> None:
    conn.execute("CREATE TABLE sales_recent (month date, amount numeric)")
    conn.execute("CREATE TABLE sales_monthly (month date, amount numeric)")
    conn.execute("INSERT INTO sales_recent VALUES ('2020-01-01', 5), ('2020-01-01', 7)")
    if failing:
        conn.execute("CREATE RULE no_delete AS ON DELETE TO sales_recent DO INSTEAD SELECT 1 / 0")
    conn.execute(reference_sql("sql-step-example"))
    conn.execute("SELECT monthly_rollup()")
    job = conn.execute(f"SELECT job_id, status FROM {SCHEMA}.show_job('monthly rollup')")
    job_id, status = job.fetchone() or (None, None)
    assert status == ("CRITICAL" if failing else "OK")
    assert [row[:3] for row in steps(conn, job_id)] == [
        ("Summarise sales", "OK", "Rows affected: 1"),
        (
            "Drop old detail",
            "CRITICAL" if failing else "OK",
            "ERROR: division by zero" if failing else "Rows affected: 2",
        ),
    ]
