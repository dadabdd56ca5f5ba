"""CREATE EXTENSION gives 1.5.0's tables, sequences, indexes, rows and dump settings."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster

COLUMNS = {
    "job_log": [
        ("job_id", "bigint", True, f"nextval('{SCHEMA}.job_log_job_id_seq'::regclass)"),
        ("owner", "text", True, None),
        ("job_name", "text", True, None),
        ("start_time", "timestamp with time zone", True, None),
        ("end_time", "timestamp with time zone", False, None),
        ("status", "text", False, None),
        ("pid", "integer", True, None),
        # 2.0.0's, after 1.5.0's columns: users insert positionally.
        ("remote_session", "boolean", True, "false"),
    ],
    "job_detail": [
        ("job_id", "bigint", True, None),
        (
            "step_id",
            "bigint",
            True,
            f"nextval('{SCHEMA}.job_detail_step_id_seq'::regclass)",
        ),
        ("action", "text", True, None),
        ("start_time", "timestamp with time zone", True, None),
        ("end_time", "timestamp with time zone", False, None),
        ("elapsed_time", "real", False, None),
        ("status", "text", False, None),
        ("message", "text", False, None),
        # New in 2.0.0, after 1.5.0's columns: a caught error's fields.
        ("sqlstate", "text", False, None),
        ("error_detail", "text", False, None),
        ("error_hint", "text", False, None),
        ("error_context", "text", False, None),
    ],
    "job_check_log": [
        ("job_id", "bigint", True, None),
        ("job_name", "text", True, None),
        ("alert_code", "integer", True, "3"),
    ],
    "job_check_config": [
        ("job_name", "text", True, None),
        ("warn_threshold", "interval", True, None),
        ("error_threshold", "interval", True, None),
        ("active", "boolean", True, "false"),
        ("sensitivity", "smallint", True, "0"),
        ("escalate", "integer", False, None),
    ],
    "job_status_text": [
        ("alert_code", "integer", True, None),
        ("alert_text", "text", True, None),
    ],
    "dblink_mapping_jobmon": [
        ("username", "text", False, None),
        ("port", "text", False, None),
        ("pwd", "text", False, None),
        ("host", "text", False, None),
        ("hostaddr", "text", False, None),
        ("target_session_attrs", "text", False, None),
    ],
}


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_table_columns_in_order(conn: psycopg.Connection, table: str) -> None:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d"
        "   ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (f"{SCHEMA}.{table}",),
    ).fetchall()
    assert rows == COLUMNS[table]


def test_keys_and_indexes(conn: psycopg.Connection) -> None:
    indexed = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid)"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " WHERE c.relnamespace = %s::regnamespace",
        (SCHEMA,),
    ).fetchall()
    definitions = {(table, index.split(" USING ")[1]) for table, index in indexed}
    for table, expected in [
        ("job_log", "btree (job_id)"),
        ("job_log", "btree (job_name, start_time)"),
        ("job_log", "btree (start_time)"),
        ("job_log", "btree (status)"),
        ("job_log", "btree (pid)"),
        ("job_log", "btree (job_name) WHERE (status IS NULL)"),
        ("job_log", "btree (job_name, status, start_time) WHERE (status IS NOT NULL)"),
        ("job_detail", "btree (step_id)"),
        ("job_detail", "btree (job_id)"),
        ("job_check_log", "btree (job_name, alert_code)"),
        ("job_check_config", "btree (job_name)"),
        ("job_status_text", "btree (alert_code)"),
        ("job_retention", "btree (job_name)"),
    ]:
        assert (table, expected) in definitions
    primary_keys = conn.execute(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = %s::regnamespace AND contype IN ('p', 'f') ORDER BY 1, 2",
        (SCHEMA,),
    ).fetchall()
    assert primary_keys == [
        (f"{SCHEMA}.job_check_config", "PRIMARY KEY (job_name)"),
        (
            f"{SCHEMA}.job_detail",
            f"FOREIGN KEY (job_id) REFERENCES {SCHEMA}.job_log(job_id) ON DELETE CASCADE",
        ),
        (f"{SCHEMA}.job_detail", "PRIMARY KEY (step_id)"),
        (f"{SCHEMA}.job_log", "PRIMARY KEY (job_id)"),
        (f"{SCHEMA}.job_retention", "PRIMARY KEY (job_name)"),
        (f"{SCHEMA}.job_status_text", "PRIMARY KEY (alert_code)"),
        (f"{SCHEMA}.sql_job_lock", "PRIMARY KEY (job_name)"),
    ]


def test_shipped_status_texts(conn: psycopg.Connection) -> None:
    rows = conn.execute(f"SELECT * FROM {SCHEMA}.job_status_text ORDER BY 1").fetchall()
    assert rows == [(1, "OK"), (2, "WARNING"), (3, "CRITICAL")]


def test_dump_settings(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT c.relname, x.condition"
        " FROM pg_extension e,"
        " unnest(e.extconfig, e.extcondition) AS x(oid, condition)"
        " JOIN pg_class c ON c.oid = x.oid"
        " WHERE e.extname = 'pg_jobmon' ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("dblink_mapping_jobmon", ""),
        ("job_check_config", ""),
        ("job_check_log", ""),
        ("job_detail", ""),
        ("job_detail_step_id_seq", ""),
        ("job_log", ""),
        ("job_log_job_id_seq", ""),
        ("job_retention", ""),
        ("job_status_text", "WHERE alert_code NOT IN (1, 2, 3)"),
        ("unreported_writes", ""),
    ]


def test_requires_plpython_and_no_dblink(conn: psycopg.Connection) -> None:
    extensions = conn.execute("SELECT extname FROM pg_extension ORDER BY 1").fetchall()
    assert extensions == [("pg_jobmon",), ("plpgsql",), ("plpython3u",)]
    version = conn.execute(
        "SELECT extversion, extrelocatable FROM pg_extension WHERE extname = 'pg_jobmon'"
    ).fetchone()
    assert version == ("2.0.0", False)


def test_public_function_signatures(conn: psycopg.Connection) -> None:
    """1.5.0's signatures, parameter names and defaults: callers may use named notation."""
    rows = conn.execute(
        "SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') '"
        " || pg_get_function_result(p.oid)"
        " FROM pg_proc p WHERE p.pronamespace = %s::regnamespace"
        " AND p.proname NOT LIKE '\\_%%' ORDER BY 1",
        (SCHEMA,),
    ).fetchall()
    assert [row[0] for row in rows] == [
        "add_job(p_job_name text) bigint",
        "add_step(p_job_id bigint, p_action text) bigint",
        "cancel_job(p_job_id bigint) boolean",
        "check_job_status(OUT alert_code integer, OUT alert_status text, OUT job_name text,"
        " OUT alert_text text) SETOF record",
        "check_job_status(p_history interval, OUT alert_code integer, OUT alert_status text,"
        " OUT job_name text, OUT alert_text text) SETOF record",
        "close_job(p_job_id bigint) void",
        "fail_job(p_job_id bigint, p_fail_level integer DEFAULT 3) void",
        "fail_job_with_error(p_job_id bigint, p_step_id bigint, p_sqlstate text,"
        " p_message text, p_detail text DEFAULT NULL::text, p_hint text DEFAULT NULL::text,"
        " p_context text DEFAULT NULL::text, p_fail_level integer DEFAULT 3) void",
        "job_log_clear(p_interval interval) void",
        "show_detail(p_id bigint) SETOF jobmon.job_detail",
        "show_detail(p_name text, integer DEFAULT 1) SETOF jobmon.job_detail",
        "show_job(p_name text, integer DEFAULT 10) SETOF jobmon.job_log",
        "show_job_like(p_name text, integer DEFAULT 10) SETOF jobmon.job_log",
        "show_job_status(p_name text, p_status text, integer DEFAULT 10) SETOF jobmon.job_log",
        "show_job_status(p_status text, integer DEFAULT 10) SETOF jobmon.job_log",
        "show_running(integer DEFAULT 10) SETOF jobmon.job_log",
        "sql_job(p_job_name text, p_sql text) text",
        "sql_step(p_job_id bigint, p_action text, p_sql text) boolean",
        "update_step(p_step_id bigint, p_status text, p_message text) void",
    ]


def test_single_row_config(conn: psycopg.Connection) -> None:
    conn.execute(f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES ('5432')")
    with pytest.raises(psycopg.errors.RaiseException) as raised:
        conn.execute(f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES ('5433')")
    assert raised.value.diag.message_primary == "Only a single row may exist in this table"
    count = conn.execute(f"SELECT count(*) FROM {SCHEMA}.dblink_mapping_jobmon").fetchone()
    assert count == (1,)


def test_single_row_config_within_one_statement(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute(f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES ('1'), ('2')")
    count = conn.execute(f"SELECT count(*) FROM {SCHEMA}.dblink_mapping_jobmon").fetchone()
    assert count == (0,)


def test_installs_into_any_schema_name(cluster: Cluster, db: str) -> None:
    """Every statement is schema-qualified: a quoted, mixed-case schema works too."""
    with cluster.connect(db) as conn:
        conn.execute("DROP EXTENSION pg_jobmon")
        conn.execute('CREATE SCHEMA "Job Mon"')
        conn.execute('CREATE EXTENSION pg_jobmon SCHEMA "Job Mon"')
        job = conn.execute("""SELECT "Job Mon".add_job('odd schema')""").fetchone()
        assert job is not None
        conn.execute("""SELECT "Job Mon".close_job(%s)""", (job[0],))
        row = conn.execute("""SELECT job_name, status FROM "Job Mon".job_log""").fetchone()
        assert row == ("ODD SCHEMA", "OK")


def test_only_the_documented_functions_run_with_the_owners_rights(
    conn: psycopg.Connection,
) -> None:
    """Each SECURITY DEFINER function is one the reference lists, and pins search_path."""
    rows = conn.execute(
        "SELECT p.proname, p.proconfig FROM pg_proc AS p"
        " WHERE p.pronamespace = %s::regnamespace AND p.prosecdef ORDER BY p.proname",
        (SCHEMA,),
    ).fetchall()
    assert [name for name, _ in rows] == [
        "_apply_retention",
        "_cancel_logging_write",
        "_dblink_mapping_version",
        "_is_logging_session",
        "_job_log_status_changed",
        "_live_backends",
        "_lock_sql_job",
        "_logging_sessions",
        "_next_job_id",
        "_next_step_ids",
        "_open_logging_connection",
        "_retention_applies",
    ]
    for name, settings in rows:
        assert "search_path=pg_catalog, pg_temp" in (settings or []), name
