"""Failures that explain themselves: a failed step keeps its error's SQLSTATE, detail,
hint and context, written by sql_step, sql_job and fail_job_with_error(), which never
hides the error that its exception handler goes on to raise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, runner_role, scalar
from readme import readme_sql
from test_encodings import UNCONVERTIBLE, Encoded, _connected

# A statement whose error has every field: SQLSTATE, message, detail, hint, context.
BOOM = (
    "CREATE FUNCTION public.boom() RETURNS integer LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'data_exception',"
    " DETAIL = 'The detail.', HINT = 'The hint.'; END $$"
)
FIELDS = "action, status, message, sqlstate, error_detail, error_hint, error_context"
# Its step's record: the statement's own context only, not pg_jobmon's calls nor the
# caller's.
BOOM_RECORDED = (
    "CRITICAL",
    "ERROR: boom",
    "22000",
    "The detail.",
    "The hint.",
    'PL/pgSQL function boom() line 1 at RAISE\nSQL statement "SELECT public.boom()"',
)
# Roles are the cluster's, shared by every test: made once, with grants per database.
OWNER, DEPUTY, STRANGER = "failing_owner", "failing_deputy", "failing_stranger"


def details(conn: psycopg.Connection, job_id: int) -> list[tuple[Any, ...]]:
    """(action, status, message, sqlstate, detail, hint, context) of a job's steps."""
    return conn.execute(
        f"SELECT {FIELDS} FROM {SCHEMA}.show_detail(%s::bigint)", (job_id,)
    ).fetchall()


def job_status(conn: psycopg.Connection, job_id: int) -> Any:
    return scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))


def warnings_of(conn: psycopg.Connection) -> list[str]:
    """A list that collects the primary messages of the WARNINGs that ``conn`` gets."""
    found: list[str] = []

    def keep(notice: psycopg.errors.Diagnostic) -> None:
        if notice.severity_nonlocalized == "WARNING":
            found.append(str(notice.message_primary))

    conn.add_notice_handler(keep)
    return found


def fail_job_with_error(conn: psycopg.Connection, arguments: str, *params: Any) -> None:
    conn.execute(f"SELECT {SCHEMA}.fail_job_with_error({arguments})", params)


@pytest.fixture
def job_id(conn: psycopg.Connection) -> int:
    conn.execute(BOOM)
    return add_job(conn, "failing")


# sql_step and sql_job


def test_sql_step_records_every_field_and_keeps_1_5_0s_message(
    conn: psycopg.Connection, job_id: int
) -> None:
    call = f"SELECT {SCHEMA}.sql_step(%s, 'boom', 'SELECT public.boom()')"
    assert scalar(conn, call, (job_id,)) is False
    assert details(conn, job_id) == [("boom", *BOOM_RECORDED)]


def test_absent_fields_are_null(conn: psycopg.Connection, job_id: int) -> None:
    for sql in ("SELECT 1 / 0", "SELEC 1"):
        conn.execute(f"SELECT {SCHEMA}.sql_step(%s, %s, %s)", (job_id, sql, sql))
    conn.execute(f"SELECT {SCHEMA}.sql_step(%s, 'fine', 'SELECT 1')", (job_id,))
    assert details(conn, job_id) == [
        (
            "SELECT 1 / 0",
            "CRITICAL",
            "ERROR: division by zero",
            "22012",
            None,
            None,
            'SQL statement "SELECT 1 / 0"',
        ),
        (
            "SELEC 1",
            "CRITICAL",
            'ERROR: syntax error at or near "SELEC"',
            "42601",
            None,
            None,
            None,
        ),
        ("fine", "OK", "Rows affected: 1", None, None, None, None),
    ]


def test_a_cancelled_sql_step_records_its_sqlstate_and_still_raises(
    conn: psycopg.Connection, job_id: int
) -> None:
    add_job(conn, "warm up")  # the first call of a session opens the logging connection
    conn.execute("SET statement_timeout = '300ms'")
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute(f"SELECT {SCHEMA}.sql_step(%s, 'slow', 'SELECT pg_sleep(30)')", (job_id,))
    conn.execute("RESET statement_timeout")
    ((status, message, sqlstate),) = conn.execute(
        f"SELECT status, message, sqlstate FROM {SCHEMA}.job_detail WHERE job_id = %s",
        (job_id,),
    ).fetchall()
    assert (status, message, sqlstate) == (
        "CRITICAL",
        "ERROR: canceling statement due to statement timeout",
        "57014",
    )


def test_sql_job_records_every_field(conn: psycopg.Connection, job_id: int) -> None:
    result = scalar(conn, f"SELECT {SCHEMA}.sql_job('boom job', 'SELECT public.boom()')")
    failed = int(scalar(conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log"))
    assert result == f"Job ID {failed} failed. See job_detail table for more details"
    assert job_status(conn, failed) == "CRITICAL"
    assert details(conn, failed) == [("Running sql: 'SELECT public.boom()'", *BOOM_RECORDED)]


def test_the_callers_rollback_keeps_the_fields(conn: psycopg.Connection, job_id: int) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(f"SELECT {SCHEMA}.sql_step(%s, 'boom', 'SELECT public.boom()')", (job_id,))
        step = int(scalar(conn, f"SELECT {SCHEMA}.add_step(%s, 'next')", (job_id,)))
        fail_job_with_error(conn, "%s, %s, '42P01', 'gone', 'More.'", job_id, step)
    assert [row[:5] for row in details(conn, job_id)] == [
        ("boom", "CRITICAL", "ERROR: boom", "22000", "The detail."),
        ("next", "CRITICAL", "ERROR: gone", "42P01", "More."),
    ]
    assert job_status(conn, job_id) == "CRITICAL"


# fail_job_with_error


def test_the_open_step_gets_the_error_and_the_job_fails(
    conn: psycopg.Connection, job_id: int
) -> None:
    step = int(scalar(conn, f"SELECT {SCHEMA}.add_step(%s, 'load')", (job_id,)))
    fail_job_with_error(
        conn,
        "%s, %s, '23505', 'duplicate key', 'Key (id)=(1) exists.', 'Look.', 'line 3'",
        job_id,
        step,
    )
    assert details(conn, job_id) == [
        (
            "load",
            "CRITICAL",
            "ERROR: duplicate key",
            "23505",
            "Key (id)=(1) exists.",
            "Look.",
            "line 3",
        )
    ]
    ended = conn.execute(
        f"SELECT end_time IS NOT NULL, elapsed_time >= 0 FROM {SCHEMA}.job_detail"
        " WHERE step_id = %s",
        (step,),
    ).fetchone()
    assert ended == (True, True)
    assert job_status(conn, job_id) == "CRITICAL"


def test_with_no_step_id_the_error_gets_a_step_of_its_own(
    conn: psycopg.Connection, job_id: int
) -> None:
    fail_job_with_error(conn, "%s, NULL, '22012', 'division by zero', '', '', ''", job_id)
    assert details(conn, job_id) == [
        ("FAIL JOB", "CRITICAL", "ERROR: division by zero", "22012", None, None, None)
    ]
    assert job_status(conn, job_id) == "CRITICAL"


def test_a_step_that_ended_keeps_its_record(conn: psycopg.Connection, job_id: int) -> None:
    step = int(scalar(conn, f"SELECT {SCHEMA}.add_step(%s, 'copy')", (job_id,)))
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'Copied')", (step,))
    fail_job_with_error(conn, "%s, %s, '22012', 'division by zero'", job_id, step)
    assert details(conn, job_id) == [
        ("copy", "OK", "Copied", None, None, None, None),
        ("FAIL JOB", "CRITICAL", "ERROR: division by zero", "22012", None, None, None),
    ]


def test_a_fail_level_sets_the_step_and_job_status(conn: psycopg.Connection, job_id: int) -> None:
    fail_job_with_error(conn, "%s, NULL, '01000', 'late', p_fail_level => 2", job_id)
    assert [row[:2] for row in details(conn, job_id)] == [("FAIL JOB", "WARNING")]
    assert job_status(conn, job_id) == "WARNING"
    other = add_job(conn, "null level")
    fail_job_with_error(conn, "%s, NULL, '01000', 'late', p_fail_level => NULL", other)
    assert job_status(conn, other) == "CRITICAL"


def test_a_null_job_id_only_warns(conn: psycopg.Connection, job_id: int) -> None:
    warnings = warnings_of(conn)
    fail_job_with_error(conn, "NULL, NULL, '42501', 'permission denied'")
    assert warnings == ["could not log error 42501: job id is null"]
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_detail") == 0
    assert job_status(conn, job_id) is None


def test_its_own_failures_are_warnings_naming_the_job(
    conn: psycopg.Connection, job_id: int
) -> None:
    warnings = warnings_of(conn)
    fail_job_with_error(conn, "424242, NULL, '22012', 'x'")
    fail_job_with_error(conn, "%s, NULL, '22012', 'x', p_fail_level => 9", job_id)
    assert warnings == [
        "could not log job id 424242 as failed: plpy.Error: job id 424242 does not exist",
        f"could not log job id {job_id} as failed: plpy.Error: alert code 9 does not exist",
    ]
    # An alert code that job_status_text lacks is refused before anything is written.
    assert details(conn, job_id) == []
    assert job_status(conn, job_id) is None


def test_a_failed_log_write_does_not_hide_the_callers_error(
    cluster: Cluster, db: str, conn: psycopg.Connection, job_id: int
) -> None:
    """With the logging connection gone wrong, the handler's RAISE still raises the error."""
    conn.execute(
        "CREATE FUNCTION public.failing_job(p_job bigint) RETURNS void LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM 1 / 0;"
        f" EXCEPTION WHEN OTHERS THEN"
        f" PERFORM {SCHEMA}.fail_job_with_error(p_job, NULL, SQLSTATE, SQLERRM); RAISE;"
        " END $$"
    )
    # A logging connection that cannot be opened: nothing listens on port 1.
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES ('127.0.0.1', '1')"
    )
    with cluster.connect(db) as session:
        warnings = warnings_of(session)
        with pytest.raises(psycopg.errors.DivisionByZero):
            session.execute("SELECT public.failing_job(%s)", (job_id,))
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"could not log job id {job_id} as failed: plpy.Error: could not open the pg_jobmon"
    )
    conn.execute(f"DELETE FROM {SCHEMA}.dblink_mapping_jobmon")
    assert details(conn, job_id) == []
    assert job_status(conn, job_id) is None


@pytest.fixture
def roles(conn: psycopg.Connection) -> None:
    """An owner of jobs, a member of that role, and a role that is neither."""
    for role in (OWNER, DEPUTY, STRANGER):
        runner_role(conn, role)
    conn.execute(f"GRANT {OWNER} TO {DEPUTY}")


def test_only_members_of_the_jobs_owner_record_on_it(
    cluster: Cluster, db: str, conn: psycopg.Connection, roles: None
) -> None:
    with cluster.connect(db, user=OWNER) as owner:
        owned = add_job(owner, "owned")
        step = int(scalar(owner, f"SELECT {SCHEMA}.add_step(%s, 'load')", (owned,)))
    with cluster.connect(db, user=STRANGER) as stranger:
        warnings = warnings_of(stranger)
        fail_job_with_error(stranger, "%s, %s, '22012', 'not mine'", owned, step)
        assert warnings == [
            f"could not log job id {owned} as failed: plpy.Error: permission denied for job {owned}"
        ]
    assert details(conn, owned) == [("load", None, None, None, None, None, None)]
    with cluster.connect(db, user=DEPUTY) as deputy:
        fail_job_with_error(deputy, "%s, %s, '22012', 'by the deputy'", owned, step)
    assert [row[:4] for row in details(conn, owned)] == [
        ("load", "CRITICAL", "ERROR: by the deputy", "22012")
    ]
    assert job_status(conn, owned) == "CRITICAL"


# The README's example


@pytest.fixture
def nightly_load(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(readme_sql("logging-a-job"))
    conn.execute(
        "INSERT INTO orders VALUES (1, current_date - 1, 10), (2, current_date - 1, 500),"
        " (3, current_date, 7)"
    )
    return conn


def last_job(conn: psycopg.Connection) -> int:
    return int(scalar(conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log"))


def test_readme_example_logs_a_good_run(nightly_load: psycopg.Connection) -> None:
    conn = nightly_load
    conn.execute("SELECT nightly_load()")
    job = last_job(conn)
    assert job_status(conn, job) == "OK"
    assert details(conn, job) == [("Copy orders", "OK", "Copied", None, None, None, None)]
    assert scalar(conn, "SELECT count(*) FROM orders_archive") == 2


def test_readme_example_records_a_failing_statement_and_raises_it(
    nightly_load: psycopg.Connection,
) -> None:
    conn = nightly_load
    conn.execute("ALTER TABLE orders_archive ADD CONSTRAINT small CHECK (amount < 100)")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("SELECT nightly_load()")
    job = last_job(conn)
    assert job_status(conn, job) == "CRITICAL"
    ((action, status, message, sqlstate, detail, hint, context),) = details(conn, job)
    assert (action, status, sqlstate, hint) == ("Copy orders", "CRITICAL", "23514", None)
    assert message == (
        'ERROR: new row for relation "orders_archive" violates check constraint "small"'
    )
    assert detail.startswith("Failing row contains (2, ")
    assert context.endswith("PL/pgSQL function nightly_load() line 9 at SQL statement")
    assert scalar(conn, "SELECT count(*) FROM orders_archive") == 0


def test_readme_example_raises_add_steps_own_error_and_fails_the_job(
    cluster: Cluster, db: str, nightly_load: psycopg.Connection, roles: None
) -> None:
    """1.5.0's README handler raised 'step id must not be null' here instead."""
    conn = nightly_load
    conn.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.add_step(bigint, text) FROM {OWNER}")
    with (
        cluster.connect(db, user=OWNER) as runner,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as raised,
    ):
        runner.execute("SELECT nightly_load()")
    assert raised.value.diag.message_primary == "permission denied for function add_step"
    job = last_job(conn)
    assert job_status(conn, job) == "CRITICAL"
    assert details(conn, job) == [
        (
            "FAIL JOB",
            "CRITICAL",
            "ERROR: permission denied for function add_step",
            "42501",
            None,
            None,
            "PL/pgSQL function nightly_load() line 8 at assignment",
        )
    ]


def test_readme_example_raises_add_jobs_own_error_with_a_warning(
    cluster: Cluster, db: str, nightly_load: psycopg.Connection, roles: None
) -> None:
    conn = nightly_load
    conn.execute(f"REVOKE EXECUTE ON FUNCTION {SCHEMA}.add_job(text) FROM {OWNER}")
    with cluster.connect(db, user=OWNER) as runner:
        warnings = warnings_of(runner)
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as raised:
            runner.execute("SELECT nightly_load()")
    assert raised.value.diag.message_primary == "permission denied for function add_job"
    assert warnings == ["could not log error 42501: job id is null"]
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_log") == 0


# Databases not in UTF8


@pytest.fixture(params=sorted(UNCONVERTIBLE))
def unconvertible(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Encoded]:
    yield from _connected(cluster, request.param)


def test_text_with_no_utf8_equivalent_is_recorded_escaped(unconvertible: Encoded) -> None:
    text, escaped, _ = UNCONVERTIBLE[unconvertible.encoding]
    failing = (
        b"DO $$BEGIN RAISE EXCEPTION 'm' USING DETAIL = 'd "
        + text
        + b"', HINT = 'h "
        + text
        + b"'; END$$"
    )
    job_id = unconvertible.call("add_job", b"escaped fields")
    assert unconvertible.call("sql_step", job_id, b"fails", failing) is False
    step = unconvertible.call("add_step", job_id, b"handled")
    unconvertible.call(
        "fail_job_with_error",
        job_id,
        step,
        b"22000",
        b"m " + text,
        b"d " + text,
        b"h " + text,
        b"c " + text,
    )

    def fields(step_id: object) -> list[bytes | None]:
        row = unconvertible.conn.execute(
            f"SELECT convert_to(message, %(e)s), convert_to(error_detail, %(e)s),"
            f" convert_to(error_hint, %(e)s), convert_to(error_context, %(e)s)"
            f" FROM {SCHEMA}.job_detail WHERE step_id = %(s)s",
            {"e": unconvertible.encoding, "s": step_id},
        ).fetchone()
        assert row is not None
        return [None if value is None else bytes(value) for value in row]

    first = scalar(
        unconvertible.conn,
        f"SELECT min(step_id) FROM {SCHEMA}.job_detail WHERE job_id = %s",
        (job_id,),
    )
    message, detail, hint, context = fields(first)
    assert (message, detail, hint) == (b"ERROR: m", b"d " + escaped, b"h " + escaped)
    assert context is not None and escaped in context
    assert fields(step) == [
        b"ERROR: m " + escaped,
        b"d " + escaped,
        b"h " + escaped,
        b"c " + escaped,
    ]
