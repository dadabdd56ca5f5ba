"""A hostile search_path makes no pg_jobmon function run anybody else's objects.

A job runner puts look-alikes of what pg_jobmon uses (functions, operators, tables and
views of pg_catalog and of the extension) in a schema it searches before pg_catalog; a
second test lets it create overloads in the extension's own schema. Every look-alike
says so with a WARNING when it runs, and the tables hold a marker row, so a single use
shows up in what the caller receives.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, scalar
from readme import readme_sql

ROLE = "mallory"
MARKER = "PLANTED BY MALLORY"

# Look-alikes of built-in functions pg_jobmon calls: name, arguments, result type.
FUNCTIONS = [
    ("upper", "text", "text"),
    ("lower", "text", "text"),
    ("now", "", "timestamptz"),
    ("pg_backend_pid", "", "integer"),
    ("pg_sleep", "double precision", "void"),
    ("current_setting", "text", "text"),
    ("current_setting", "text, boolean", "text"),
    ("format", "text, text", "text"),
    ("quote_literal", "text", "text"),
    ("hashtext", "text", "integer"),
    ("pg_blocking_pids", "integer", "integer[]"),
    ("pg_cancel_backend", "integer", "boolean"),
    ("pg_advisory_xact_lock", "integer, integer", "void"),
    ("pg_try_advisory_lock", "integer, integer", "boolean"),
    ("pg_advisory_unlock", "integer, integer", "boolean"),
]

# Look-alike operators: symbol, left and right operand types.
OPERATORS = [
    ("=", "bigint", "bigint"),
    ("=", "text", "text"),
    ("=", "integer", "integer"),
    ("<", "timestamp with time zone", "timestamp with time zone"),
    ("-", "timestamp with time zone", "interval"),
    (">=", "interval", "interval"),
    ("~", "text", "text"),
    ("||", "text", "text"),
]

# Overloads that a role with CREATE on the extension's schema could add, each a closer
# match than pg_jobmon's own function for a careless call: name, arguments, result.
OVERLOADS = [
    ("fail_job", "bigint", "void"),
    ("add_job", "character varying", "bigint"),
    ("add_step", "bigint, character varying", "bigint"),
    ("update_step", "bigint, character varying, character varying", "void"),
    ("_fail_job_quietly", "bigint, integer, text", "void"),
    ("_alert_text", "bigint", "text"),
    ("_alert_text", "smallint", "text"),
    ("_require_text", "character varying, character varying", "void"),
    ("_job_name", "character varying", "text"),
    ("_require_interval", "text", "void"),
    ("_sql_step", "bigint, text, text, character varying", "boolean"),
]


def look_alike(schema: str, name: str, arguments: str, result: str) -> str:
    """A function that warns when it runs, then does what pg_catalog's would."""
    args = [arg.strip() for arg in arguments.split(",") if arg.strip()]
    params = ", ".join(f"a{i} {arg}" for i, arg in enumerate(args))
    values = ", ".join(f"a{i}" for i in range(len(args)))
    body = f"RETURN pg_catalog.{name}({values});" if result != "void" else ""
    if result != "void" and schema == SCHEMA:
        body = f"RETURN NULL::{result};"
    return (
        f"CREATE FUNCTION {schema}.{name}({params}) RETURNS {result} LANGUAGE plpgsql"
        f" AS $$ BEGIN RAISE WARNING 'hijacked: {name}({arguments})'; {body} END $$"
    )


def look_alike_operator(number: int, symbol: str, left: str, right: str) -> list[str]:
    function = f"{ROLE}.op_{number}"
    result = "boolean" if symbol in ("=", "<", ">=", "~") else left
    if symbol == "||":
        result = "text"
    builtin = f"OPERATOR(pg_catalog.{symbol})"
    return [
        f"CREATE FUNCTION {function}(a {left}, b {right}) RETURNS {result} LANGUAGE plpgsql"
        f" AS $$ BEGIN RAISE WARNING 'hijacked: {symbol}'; RETURN a {builtin} b; END $$",
        f"CREATE OPERATOR {ROLE}.{symbol} (FUNCTION = {function},"
        f" LEFTARG = {left}, RIGHTARG = {right})",
    ]


def planted_tables() -> list[str]:
    statements = []
    for table in ("job_log", "job_detail", "job_status_text", "job_check_config"):
        statements.append(f"CREATE TABLE {ROLE}.{table} (LIKE {SCHEMA}.{table} INCLUDING DEFAULTS)")
    statements += [
        f"INSERT INTO {ROLE}.job_log (job_id, owner, job_name, start_time, pid)"
        f" VALUES (1, '{MARKER}', '{MARKER}', now(), pg_backend_pid())",
        f"INSERT INTO {ROLE}.job_status_text VALUES (1, '{MARKER}'), (3, '{MARKER}')",
        f"CREATE VIEW {ROLE}.pg_stat_activity AS SELECT * FROM pg_catalog.pg_stat_activity",
        f"CREATE VIEW {ROLE}.pg_locks AS SELECT * FROM pg_catalog.pg_locks",
        f"CREATE TABLE {ROLE}.dblink_mapping_jobmon (LIKE {SCHEMA}.dblink_mapping_jobmon)",
        f"INSERT INTO {ROLE}.dblink_mapping_jobmon (port) VALUES ('1')",
    ]
    return statements


@pytest.fixture
def mallory(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A job runner's session whose search_path puts its own schema before pg_catalog."""
    conn.execute(f"CREATE ROLE {ROLE} LOGIN")
    conn.execute(readme_sql("job-runner").replace("job_runner", ROLE))
    # And what the checks and job_log_clear() need, so that they run to the end.
    conn.execute(
        f"GRANT SELECT ON {SCHEMA}.job_check_config, {SCHEMA}.job_check_log,"
        f" {SCHEMA}.job_summary TO {ROLE};"
        f" GRANT DELETE ON {SCHEMA}.job_log, {SCHEMA}.job_detail TO {ROLE}"
    )
    conn.execute(f"CREATE SCHEMA {ROLE} AUTHORIZATION {ROLE}")
    try:
        with cluster.connect(db, user=ROLE) as session:
            for name, arguments, result in FUNCTIONS:
                session.execute(look_alike(ROLE, name, arguments, result))
            for number, (symbol, left, right) in enumerate(OPERATORS):
                for statement in look_alike_operator(number, symbol, left, right):
                    session.execute(statement)
            for statement in planted_tables():
                conn.execute(statement)  # LIKE needs to read the originals
            session.execute(f"SET search_path = {ROLE}, pg_catalog, {SCHEMA}, public")
            yield session
    finally:
        # Roles belong to the cluster, which every test shares.
        conn.execute(f"DROP OWNED BY {ROLE} CASCADE")
        conn.execute(f"DROP ROLE {ROLE}")


def every_call(session: psycopg.Connection, conn: psycopg.Connection) -> list[str]:
    """Use every pg_jobmon function a job runner may; return what came back, as text."""
    seen: list[str] = []

    def call(query: str, params: tuple[object, ...] = ()) -> None:
        try:
            seen.extend(str(row) for row in session.execute(query, params).fetchall())
        except psycopg.Error as error:
            seen.append(f"{error.sqlstate}: {error}")

    job_id = add_job(session, "hostile path")
    step = scalar(session, f"SELECT {SCHEMA}.add_step(%s, 'a step')", (job_id,))
    call(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'fine')", (step,))
    call(f"SELECT {SCHEMA}.sql_step(%s, 'a statement', 'SELECT 1')", (job_id,))
    call(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    for _ in range(3):
        call(f"SELECT {SCHEMA}.fail_job({SCHEMA}.add_job('failing'), 3)")
    call(f"SELECT {SCHEMA}.fail_job({SCHEMA}.add_job('warning'), 2)")
    call(f"SELECT {SCHEMA}.sql_job('sql job', 'SELECT 1')")
    call(f"SELECT {SCHEMA}.sql_job('broken sql job', 'SELECT 1/0')")
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_check_config (job_name, warn_threshold, error_threshold,"
        " escalate, active) VALUES ('WARNING', '1 hour', '2 hours', 1, true)"
    )
    call(f"SELECT {SCHEMA}.fail_job({SCHEMA}.add_job('warning'), 2)")
    call(f"SELECT {SCHEMA}.cancel_job({SCHEMA}.add_job('not running elsewhere'))")
    for query in (
        "check_job_status()",
        "check_job_status('1 day')",
        "show_job('failing')",
        "show_job_like('^FAIL')",
        "show_job_status('CRITICAL')",
        "show_job_status('failing', 'CRITICAL')",
        f"show_detail({job_id})",
        "show_detail('hostile path')",
        "show_running()",
        "_running_jobs()",
        "_live_backends()",
        "_alert_text(3)",
        "_job_name('x')",
        "job_summary",
    ):
        call(f"SELECT * FROM {SCHEMA}.{query}")
    call(f"SELECT {SCHEMA}.job_log_clear('1 day')")
    return seen


def assert_nothing_planted_was_used(conn: psycopg.Connection, seen: list[str]) -> None:
    assert [text for text in seen if "hijacked" in text or MARKER in text] == []
    # Nothing failed but what fails anyway: cancel_job() of the session's own job.
    # (A planted overload that made a call ambiguous would show up here.)
    errors = [text for text in seen if text[:5].isalnum() and text[5:7] == ": "]
    assert [text[:5] for text in errors] == ["55000"], errors
    rows = conn.execute(f"SELECT owner, job_name, status FROM {SCHEMA}.job_log").fetchall()
    assert rows and all(owner == ROLE for owner, _, _ in rows)
    # The escalation read the extension's own job_status_text, not the planted one.
    assert ("WARNING", "ESCALATED") in {(name, status) for _, name, status in rows}


def warnings_of(session: psycopg.Connection) -> list[str]:
    """The WARNINGs the session gets from now on: the look-alikes raise one when used.

    job_log_clear()'s NOTICE of what it deleted is no warning."""
    warnings: list[str] = []

    def keep_warning(notice: psycopg.errors.Diagnostic) -> None:
        if notice.severity_nonlocalized == "WARNING":
            warnings.append(str(notice.message_primary))

    session.add_notice_handler(keep_warning)
    return warnings


def test_look_alikes_before_pg_catalog_are_never_used(
    mallory: psycopg.Connection, conn: psycopg.Connection
) -> None:
    warnings = warnings_of(mallory)
    # The look-alikes work: the caller's own statements do reach them.
    mallory.execute("SELECT upper('x')")
    assert warnings == ["hijacked: upper(text)"]
    warnings.clear()
    seen = every_call(mallory, conn)
    assert warnings == []
    assert_nothing_planted_was_used(conn, seen)


def test_overloads_in_the_extensions_schema_are_never_used(
    mallory: psycopg.Connection, conn: psycopg.Connection
) -> None:
    conn.execute(f"GRANT CREATE ON SCHEMA {SCHEMA} TO {ROLE}")
    try:
        for name, arguments, result in OVERLOADS:
            mallory.execute(look_alike(SCHEMA, name, arguments, result))
        warnings = warnings_of(mallory)
        seen = every_call(mallory, conn)
        assert warnings == []
        assert_nothing_planted_was_used(conn, seen)
    finally:
        conn.execute(f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM {ROLE}")
