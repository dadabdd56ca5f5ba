"""ALTER EXTENSION pg_jobmon UPDATE from 1.5.0: nothing lost, the new code path, no dblink.

The 1.5.0 installation is tests/release_1_5_0/, offered by a private copy of the server's
installation (old_release.py). Its database is filled the way years of use fill one:
jobs logged through 1.5.0's own dblink functions, bulk history, a configuration row,
a custom status, check configuration, grants to a logging role and a monitoring role, and
a view over check_job_status(). Each test updates a copy of it with the README's commands.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import testgres
from fix_cluster import (
    PUBLIC_FUNCTIONS,
    SCHEMA,
    Cluster,
    add_job,
    logger_application_name,
    refusal,
    run_client,
    scalar,
    started_cluster,
    steps,
)
from old_release import installation_with_release
from psycopg.errors import InsufficientPrivilege
from readme import readme_sql

Row = tuple[Any, ...]

TEMPLATE = "jobmon_1_5_0"
RUNNER = "jobmon_runner"
MONITOR = "jobmon_monitor"
# A role granted only the functions that pg_partman calls.
PARTMAN = "partman_runner"
PARTMAN_FUNCTIONS = (
    "add_job(text)",
    "add_step(bigint, text)",
    "update_step(bigint, text, text)",
    "close_job(bigint)",
    "fail_job(bigint, integer)",
)
# 1.5.0's columns of each table, in order, and the columns that order its rows.
TABLES = {
    "job_log": ("job_id, owner, job_name, start_time, end_time, status, pid", "job_id"),
    "job_detail": (
        "job_id, step_id, action, start_time, end_time, elapsed_time, status, message",
        "step_id",
    ),
    "job_check_log": ("job_id, job_name, alert_code", "job_id, job_name, alert_code"),
    "job_check_config": (
        "job_name, warn_threshold, error_threshold, active, sensitivity, escalate",
        "job_name",
    ),
    "job_status_text": ("alert_code, alert_text", "alert_code"),
    "dblink_mapping_jobmon": ("username, port, pwd, host, hostaddr", "port"),
}
SEQUENCES = ("job_log_job_id_seq", "job_detail_step_id_seq")
PUBLIC_API = {
    "add_job(text)",
    "add_step(bigint, text)",
    "update_step(bigint, text, text)",
    "close_job(bigint)",
    "fail_job(bigint, integer)",
    "cancel_job(bigint)",
    "sql_step(bigint, text, text)",
    "sql_job(text, text)",
    "job_log_clear(interval)",
    "show_job(text, integer)",
    "show_job_like(text, integer)",
    "show_job_status(text, integer)",
    "show_job_status(text, text, integer)",
    "show_detail(bigint)",
    "show_detail(text, integer)",
    "show_running(integer)",
    "check_job_status()",
    "check_job_status(interval)",
}
PARTMAN_CONTROL = Path(testgres.get_pg_config()["SHAREDIR"]) / "extension/pg_partman.control"
BULK_JOBS = 5_000
STEP_SEQUENCE_POSITION = 900_000

_databases = itertools.count(1)


@pytest.fixture(scope="module")
def old_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose server offers pg_jobmon 1.5.0, with the filled template database."""
    bin_dir = installation_with_release(tmp_path_factory.mktemp("installation"))
    with started_cluster(bin_dir=bin_dir) as cluster:
        with cluster.connect() as conn:
            for role in (RUNNER, MONITOR, PARTMAN):
                conn.execute(f"CREATE ROLE {role} LOGIN")
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with cluster.connect(TEMPLATE) as conn:
            install_1_5_0(conn, cluster)
        yield cluster


@pytest.fixture
def old_db(old_cluster: Cluster) -> str:
    """A new database holding the filled 1.5.0 installation."""
    name = f"upgrade_{next(_databases)}"
    with old_cluster.connect() as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return name


def install_1_5_0(conn: psycopg.Connection, cluster: Cluster) -> None:
    conn.execute("CREATE EXTENSION dblink")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE EXTENSION pg_jobmon VERSION '1.5.0' SCHEMA {SCHEMA}")
    # The row that 1.5.0's dblink connections use; 2.0.0 makes its connection from it.
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES (%s, %s)",
        (str(cluster.socket_dir), str(cluster.node.port)),
    )
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'PAGE')")
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_check_config VALUES"
        " ('NIGHTLY LOAD', '1 day', '2 days', true, 0, NULL),"
        " ('HOURLY', '2 hours', '4 hours', true, 1, 2)"
    )
    log_through_1_5_0(conn)
    add_bulk_history(conn)
    grant_as_in_1_5_0(conn)
    conn.execute(f"CREATE VIEW public.job_alerts AS SELECT * FROM {SCHEMA}.check_job_status()")
    conn.execute(f"GRANT SELECT ON public.job_alerts TO {MONITOR}")


def log_through_1_5_0(conn: psycopg.Connection) -> None:
    """Jobs written by 1.5.0's functions, over dblink."""
    job_id = add_job(conn, "nightly load")
    for action in ("extract", "load"):
        step_id = scalar(conn, f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, action))
        conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step_id,))
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    for _ in range(3):
        conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (add_job(conn, "flaky"),))
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 2)", (add_job(conn, "hourly"),))
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s, 4)", (add_job(conn, "paged"),))
    conn.execute(f"SELECT {SCHEMA}.sql_job('vacuum job', 'SELECT 1')")
    add_job(conn, "left running")


def add_bulk_history(conn: psycopg.Connection) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
        " SELECT 'etl', 'BULK ' || i %% 50, now() - i * interval '1 minute',"
        "   now() - i * interval '1 minute' + interval '5 seconds', 'OK', 10000 + i"
        " FROM generate_series(1, %s) AS i",
        (BULK_JOBS,),
    )
    conn.execute(f"SELECT setval('{SCHEMA}.job_detail_step_id_seq', %s)", (STEP_SEQUENCE_POSITION,))
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_detail"
        " (job_id, action, start_time, end_time, elapsed_time, status, message)"
        " SELECT job_id, action, start_time, end_time, 2.5, 'OK', 'Rows affected: 7'"
        f" FROM {SCHEMA}.job_log, (VALUES ('copy'), ('analyze')) AS a (action)"
        " WHERE owner = 'etl'"
    )


def grant_as_in_1_5_0(conn: psycopg.Connection) -> None:
    """1.5.0's README grants for a logging role, and a monitoring role's grants."""
    for statement in (
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {RUNNER}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {RUNNER}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO {RUNNER}",
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {RUNNER}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {MONITOR}",
        f"GRANT SELECT ON {SCHEMA}.job_log, {SCHEMA}.job_detail, {SCHEMA}.job_check_log,"
        f" {SCHEMA}.job_check_config, {SCHEMA}.job_status_text TO {MONITOR}",
        f"GRANT EXECUTE ON FUNCTION {SCHEMA}.check_job_status(),"
        f" {SCHEMA}.check_job_status(interval) TO {MONITOR}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {PARTMAN}",
        "GRANT EXECUTE ON FUNCTION "
        + ", ".join(f"{SCHEMA}.{function}" for function in PARTMAN_FUNCTIONS)
        + f" TO {PARTMAN}",
    ):
        conn.execute(statement)


Notice = tuple[str, str, str, str]


def update(conn: psycopg.Connection) -> list[Notice]:
    """The update, as the README gives it; its (severity, message, detail, hint) notices."""
    notices: list[Notice] = []

    def keep(notice: psycopg.errors.Diagnostic) -> None:
        # The fields must be read here: the notice is gone once the handler returns.
        notices.append(
            (
                str(notice.severity),
                str(notice.message_primary),
                str(notice.message_detail),
                str(notice.message_hint),
            )
        )

    conn.add_notice_handler(keep)
    try:
        for statement in filter(str.strip, readme_sql("upgrade").split(";")):
            conn.execute(statement)
    finally:
        conn.remove_notice_handler(keep)
    return notices


def history(conn: psycopg.Connection) -> dict[str, list[Row]]:
    """Every row of 1.5.0's columns of every table, and where the sequences stand."""
    taken = {
        table: conn.execute(f"SELECT {columns} FROM {SCHEMA}.{table} ORDER BY {keys}").fetchall()
        for table, (columns, keys) in TABLES.items()
    }
    for sequence in SEQUENCES:
        taken[sequence] = conn.execute(
            f"SELECT last_value, is_called FROM {SCHEMA}.{sequence}"
        ).fetchall()
    return taken


def relation_grants(conn: psycopg.Connection) -> list[Row]:
    return conn.execute(
        "SELECT c.oid::regclass::text, c.relacl::text[] FROM pg_class AS c"
        " WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'S')"
        "    OR c.oid = 'public.job_alerts'::regclass"
        " ORDER BY 1",
        (SCHEMA,),
    ).fetchall()


# What the real 1.5.0 release has, and an update must replace, by name.
OLD_INTERNALS = {
    "_autonomous_add_job(text, text, integer)",
    "_autonomous_add_step(bigint, text)",
    "_autonomous_update_step(bigint, text, text)",
    "_autonomous_close_job(bigint)",
    "_autonomous_fail_job(bigint, integer)",
    "auth()",
    "dblink_limit_trig()",
    "job_monitor()",
    "job_check_log_escalate_trig()",
}
OLD_TRIGGERS = [
    ("dblink_mapping_jobmon", "dblink_limit_trig"),
    ("job_check_log", "job_check_log_escalate_trig"),
    ("job_log", "trg_job_monitor"),
]
NEW_TRIGGERS = [
    ("dblink_mapping_jobmon", "dblink_mapping_jobmon_changed"),
    ("dblink_mapping_jobmon", "dblink_mapping_jobmon_single_row"),
    ("job_log", "job_log_status_changed"),
]


def user_triggers(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(table, trigger) of the triggers on the extension's tables, internal ones left out."""
    rows = conn.execute(
        "SELECT c.relname::text, t.tgname::text FROM pg_trigger AS t"
        " JOIN pg_class AS c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = %s::regnamespace AND NOT t.tgisinternal ORDER BY 1, 2",
        (SCHEMA,),
    ).fetchall()
    return [(table, name) for table, name in rows]


def role_function_grants(conn: psycopg.Connection) -> dict[str, list[str]]:
    """The roles' EXECUTE grants on each function of the schema, by identity."""
    rows = conn.execute(
        "SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')',"
        "   ARRAY(SELECT a.grantee::regrole::text FROM aclexplode(p.proacl) AS a"
        "         WHERE a.grantee NOT IN (0, p.proowner) ORDER BY 1)"
        " FROM pg_proc AS p WHERE p.pronamespace = %s::regnamespace",
        (SCHEMA,),
    ).fetchall()
    return dict(rows)


def extension_version(conn: psycopg.Connection) -> str:
    return str(scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_jobmon'"))


def test_update_keeps_every_row_sequence_setting_and_grant(
    old_cluster: Cluster, old_db: str
) -> None:
    with old_cluster.connect(old_db) as conn:
        assert extension_version(conn) == "1.5.0"
        rows_before = history(conn)
        relations_before = relation_grants(conn)
        functions_before = role_function_grants(conn)
        assert user_triggers(conn) == OLD_TRIGGERS
        notices = update(conn)
        assert extension_version(conn) == "2.0.0"
        assert history(conn) == rows_before
        assert len(rows_before["job_log"]) > BULK_JOBS
        assert len(rows_before["job_detail"]) > 2 * BULK_JOBS
        # The tables new in 2.0.0 come with no grant at all (sql_job's locks, retention,
        # unreported failures).
        new_tables = [
            (f"{SCHEMA}.sql_job_lock", None),
            (f"{SCHEMA}.job_retention", None),
            (f"{SCHEMA}.unreported_writes", None),
        ]
        assert relation_grants(conn) == sorted([*relations_before, *new_tables])
        functions_after = role_function_grants(conn)
        assert functions_before.keys() & functions_after.keys() >= PUBLIC_API
        for identity in PUBLIC_API:
            assert functions_after[identity] == functions_before[identity], identity
        assert functions_after["check_job_status()"] == [MONITOR, RUNNER]
        # 1.5.0's own functions are gone; PUBLIC may execute only the compute helpers.
        assert functions_before.keys() >= OLD_INTERNALS
        assert not OLD_INTERNALS & functions_after.keys()
        assert user_triggers(conn) == NEW_TRIGGERS
        public = conn.execute(
            "SELECT p.proname FROM pg_proc AS p"
            " WHERE p.pronamespace = %s::regnamespace"
            "   AND has_function_privilege('public', p.oid, 'EXECUTE')",
            (SCHEMA,),
        ).fetchall()
        assert {name for (name,) in public} <= {
            identity.split("(")[0] for identity in PUBLIC_FUNCTIONS
        }
        # ... which the update says, since 1.5.0 let every role call them.
        assert [notice[:2] for notice in notices] == [
            ("WARNING", "pg_jobmon's functions are no longer executable by PUBLIC")
        ]


def test_after_the_update_logging_is_autonomous_on_the_new_path_without_dblink(
    old_cluster: Cluster, old_db: str
) -> None:
    with old_cluster.connect(old_db) as conn:
        last_job = scalar(conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log")
        update(conn)
        conn.execute("DROP EXTENSION dblink")
    with old_cluster.connect(old_db, user=RUNNER) as runner:
        with pytest.raises(psycopg.errors.DivisionByZero), runner.transaction():
            job_id = add_job(runner, "after update")
            step_id = scalar(runner, f"SELECT {SCHEMA}.add_step(%s, 'work')", (job_id,))
            runner.execute(f"SELECT {SCHEMA}.update_step(%s, 'CRITICAL', 'boom')", (step_id,))
            runner.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
            runner.execute("SELECT 1 / 0")
        # sql_step's record of a failure goes through an internal function new in 2.0.0.
        failing = add_job(runner, "failing step after update")
        call = f"SELECT {SCHEMA}.sql_step(%s, 'divide', 'SELECT 1 / 0')"
        assert scalar(runner, call, (failing,)) is False
        recorded = f"SELECT message, sqlstate FROM {SCHEMA}.job_detail WHERE job_id = %s"
        assert runner.execute(recorded, (failing,)).fetchall() == [
            ("ERROR: division by zero", "22012")
        ]
        # So does the exception handlers' call, new in 2.0.0.
        runner.execute(
            f"SELECT {SCHEMA}.fail_job_with_error(%s, NULL, '22012', 'division by zero')",
            (failing,),
        )
        assert (
            scalar(runner, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (failing,))
            == "CRITICAL"
        )
        runner_pid = runner.info.backend_pid
        assert [app for _, app in old_cluster.loggers(old_db)] == [
            logger_application_name(runner_pid)
        ]
    with old_cluster.connect(old_db) as conn:
        assert job_id > last_job
        assert step_id > STEP_SEQUENCE_POSITION
        assert conn.execute(
            f"SELECT owner, job_name, status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)
        ).fetchall() == [(RUNNER, "AFTER UPDATE", "CRITICAL")]
        assert steps(conn, job_id) == [("work", "CRITICAL", "boom")]
        # 2.0.0's trigger keeps job_check_log: the failure is recorded, a success clears it.
        assert conn.execute(
            f"SELECT alert_code FROM {SCHEMA}.job_check_log WHERE job_id = %s", (job_id,)
        ).fetchall() == [(3,)]
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (add_job(conn, "after update"),))
        assert not conn.execute(
            f"SELECT 1 FROM {SCHEMA}.job_check_log WHERE job_name = 'AFTER UPDATE'"
        ).fetchall()
    # A role granted only what pg_partman calls logs too.
    with old_cluster.connect(old_db, user=PARTMAN) as partman:
        partman.execute(f"SELECT {SCHEMA}.close_job(%s)", (add_job(partman, "partman"),))
        refusal(partman, f"SELECT {SCHEMA}.sql_job('x', 'SELECT 1')", InsufficientPrivilege)
        refusal(partman, f"SELECT * FROM {SCHEMA}.job_log", InsufficientPrivilege)
    with old_cluster.connect(old_db, user=MONITOR) as monitor:
        refusal(monitor, f"SELECT {SCHEMA}.add_job('x')", InsufficientPrivilege)
        alerts = monitor.execute("SELECT * FROM public.job_alerts").fetchall()
        assert (3, "FAILED_RUN", "FLAKY", "3 consecutive CRITICAL runs") in alerts
        assert alerts == [(3, "FAILED_RUN", "FLAKY", "3 consecutive CRITICAL runs")]
        # Not PAGED: one failure, not configured; not HOURLY: one warning is within its
        # sensitivity of 1, as in 1.5.0.


def schema_of(conn: psycopg.Connection) -> dict[str, list[Row]]:
    """What the extension's objects are, leaving out the roles' grants and the view."""
    queries = {
        "columns": "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),"
        " a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_class AS c JOIN pg_attribute AS a ON a.attrelid = c.oid"
        " LEFT JOIN pg_attrdef AS d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)"
        " WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'S', 'v')"
        "   AND a.attnum > 0 AND NOT a.attisdropped",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),"
        " convalidated FROM pg_constraint WHERE connamespace = %(schema)s::regnamespace",
        "indexes": "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
        " JOIN pg_class AS c ON c.oid = i.indrelid WHERE c.relnamespace = %(schema)s::regnamespace",
        "triggers": "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger AS t"
        " JOIN pg_class AS c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = %(schema)s::regnamespace AND NOT t.tgisinternal",
        "functions": "SELECT pg_get_functiondef(p.oid),"
        "   ARRAY(SELECT a::text FROM unnest(p.proacl) AS a"
        "         WHERE a::text !~ %(roles)s ORDER BY 1)"
        " FROM pg_proc AS p WHERE p.pronamespace = %(schema)s::regnamespace",
        "members": "SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend AS d"
        " JOIN pg_extension AS e ON e.oid = d.refobjid"
        " WHERE e.extname = 'pg_jobmon' AND d.deptype = 'e'",
        "initial privileges": "SELECT pg_describe_object(i.classoid, i.objoid, i.objsubid),"
        " i.initprivs::text FROM pg_init_privs AS i"
        " JOIN pg_depend AS d ON (d.classid, d.objid) = (i.classoid, i.objoid)"
        " JOIN pg_extension AS e ON e.oid = d.refobjid"
        " WHERE e.extname = 'pg_jobmon' AND d.deptype = 'e'",
        "dumped": "SELECT c.table_name::regclass::text, c.condition"
        " FROM pg_extension AS e, unnest(e.extconfig, e.extcondition) AS c (table_name, condition)"
        " WHERE e.extname = 'pg_jobmon'",
        "requires": "SELECT r.extname FROM pg_depend AS d"
        " JOIN pg_extension AS e ON e.oid = d.objid JOIN pg_extension AS r ON r.oid = d.refobjid"
        " WHERE e.extname = 'pg_jobmon' AND d.classid = 'pg_extension'::regclass",
    }
    params = {"schema": SCHEMA, "roles": f"^({RUNNER}|{MONITOR}|{PARTMAN})="}
    return {
        name: sorted(conn.execute(query, params).fetchall(), key=repr)
        for name, query in queries.items()
    }


def test_updated_extension_is_the_same_as_a_new_install(old_cluster: Cluster, old_db: str) -> None:
    with old_cluster.connect() as conn:
        conn.execute("CREATE DATABASE new_install")
    with old_cluster.connect("new_install") as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
        new_install = schema_of(conn)
    with old_cluster.connect(old_db) as conn:
        update(conn)
        updated = schema_of(conn)
    assert len(new_install["functions"]) > len(PUBLIC_API)
    for part, objects in new_install.items():
        assert updated[part] == objects, part


def test_check_config_rows_that_break_a_new_check_leave_it_not_valid_with_a_warning(
    old_cluster: Cluster, old_db: str
) -> None:
    with old_cluster.connect(old_db) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_check_config VALUES"
            " ('weekly report', '7 days', '8 days', true, -1, NULL)"
        )
        warnings = [notice for notice in update(conn) if "job_check_config" in notice[1]]
        assert extension_version(conn) == "2.0.0"
        checks: dict[str, bool] = dict(
            conn.execute(
                "SELECT conname, convalidated FROM pg_constraint"
                f" WHERE conrelid = '{SCHEMA}.job_check_config'::regclass AND contype = 'c'"
            ).fetchall()
        )
        assert checks == {
            "job_check_config_job_name_upper": False,
            "job_check_config_sensitivity_not_negative": False,
            "job_check_config_thresholds_ordered": True,
            "job_check_config_escalate_positive": True,
        }
        assert [warning[:2] for warning in warnings] == [
            ("WARNING", f"job_check_config rows break its new check {name}")
            for name in (
                "job_check_config_job_name_upper",
                "job_check_config_sensitivity_not_negative",
            )
        ]
        assert all("'weekly report'" in warning[2] for warning in warnings)
        hint = warnings[0][3]
        assert hint.endswith(
            f"ALTER TABLE {SCHEMA}.job_check_config"
            " VALIDATE CONSTRAINT job_check_config_job_name_upper"
        )
        # New rows are checked; once the old one is fixed, the checks validate.
        refusal(
            conn,
            f"INSERT INTO {SCHEMA}.job_check_config VALUES ('lower', '1 day', '2 days')",
            psycopg.errors.CheckViolation,
        )
        conn.execute(
            f"UPDATE {SCHEMA}.job_check_config SET job_name = 'WEEKLY REPORT', sensitivity = 0"
            " WHERE job_name = 'weekly report'"
        )
        conn.execute(hint.split("run: ")[1])
        conn.execute(
            f"ALTER TABLE {SCHEMA}.job_check_config"
            " VALIDATE CONSTRAINT job_check_config_sensitivity_not_negative"
        )


def test_update_without_plpython_is_refused_and_changes_nothing(
    old_cluster: Cluster, old_db: str
) -> None:
    with old_cluster.connect(old_db) as conn:
        before = history(conn)
        message = refusal(
            conn,
            "ALTER EXTENSION pg_jobmon UPDATE TO '2.0.0'",
            psycopg.errors.UndefinedObject,
        )
        assert message == 'required extension "plpython3u" is not installed'
        assert extension_version(conn) == "1.5.0"
        assert history(conn) == before
        # 1.5.0 goes on logging as before.
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (add_job(conn, "still 1.5.0"),))
        assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_log") == (
            len(before["job_log"]) + 1
        )


def test_a_dump_of_the_updated_database_keeps_the_roles_grants(
    old_cluster: Cluster, old_db: str, tmp_path: Path
) -> None:
    with old_cluster.connect(old_db) as conn:
        update(conn)
        conn.execute("DROP EXTENSION dblink")
        rows = history(conn)
        grants = role_function_grants(conn)
    dump = tmp_path / "updated.dump"
    run_client(old_cluster, "pg_dump", "-Fc", "-f", str(dump), old_db)
    with old_cluster.connect() as conn:
        conn.execute("CREATE DATABASE restored")
    run_client(old_cluster, "pg_restore", "-d", "restored", str(dump))
    with old_cluster.connect("restored") as conn:
        assert history(conn) == rows
        assert role_function_grants(conn) == grants
        assert grants["add_job(text)"] == [RUNNER, PARTMAN]
        assert grants["_open_logging_connection()"] == [RUNNER, PARTMAN]
    with old_cluster.connect("restored", user=RUNNER) as runner:
        runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (add_job(runner, "restored"),))


@pytest.mark.skipif(
    not PARTMAN_CONTROL.exists(), reason=f"pg_partman is not installed ({PARTMAN_CONTROL})"
)
def test_pg_partman_logs_through_1_5_0_then_through_2_0_0(
    old_cluster: Cluster, old_db: str
) -> None:
    with old_cluster.connect(old_db) as conn:
        conn.execute("CREATE SCHEMA partman")
        conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
        conn.execute(
            "CREATE TABLE public.events (id bigint, created_at timestamptz NOT NULL)"
            " PARTITION BY RANGE (created_at)"
        )
        first = scalar(conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log")
        conn.execute(
            "SELECT partman.create_parent('public.events', 'created_at', 'native', 'daily')"
        )
        # Through 1.5.0's dblink connections: none of pg_jobmon's own is open.
        assert old_cluster.loggers(old_db) == []
        setup = conn.execute(
            f"SELECT job_name, status FROM {SCHEMA}.job_log WHERE job_id > %s ORDER BY job_id",
            (first,),
        ).fetchall()
        assert ("PARTMAN SETUP PARENT: PUBLIC.EVENTS", "OK") in setup
        update(conn)
        second = scalar(conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log")
        # A row for today, and two days more made ahead.
        conn.execute("INSERT INTO public.events VALUES (1, now())")
        conn.execute("UPDATE partman.part_config SET premake = 6")
        conn.execute("SELECT partman.run_maintenance()")
        assert [app for _, app in old_cluster.loggers(old_db)] == [
            logger_application_name(conn.info.backend_pid)
        ]
        maintenance = conn.execute(
            f"SELECT job_id, job_name, status FROM {SCHEMA}.job_log WHERE job_id > %s"
            " ORDER BY job_id",
            (second,),
        ).fetchall()
        assert ("PARTMAN RUN MAINTENANCE", "OK") in [row[1:] for row in maintenance]
        assert ("PARTMAN CREATE TABLE: PUBLIC.EVENTS", "OK") in [row[1:] for row in maintenance]
        message = scalar(
            conn,
            f"SELECT message FROM {SCHEMA}.job_detail WHERE job_id = %s",
            (next(row[0] for row in maintenance if row[1] == "PARTMAN RUN MAINTENANCE"),),
        )
        assert message.startswith("Partition maintenance finished. 2 partitions made.")
