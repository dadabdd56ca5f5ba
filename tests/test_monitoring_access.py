"""A monitoring role, the Nagios plugin and the cron check, as the README and doc/ give them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fix_cluster import PUBLIC_FUNCTIONS, SCHEMA, Cluster, refusal
from monitoring import ALL_CLEAR, check_job_status, finished_job
from readme import MONITORING, marked_block, readme_sql

# What a monitor may execute: the monitor grants, plus the helpers left to PUBLIC.
MONITOR_FUNCTIONS = PUBLIC_FUNCTIONS | {
    "check_job_status()",
    "check_job_status(interval)",
    "show_detail(bigint)",
    "show_detail(text, integer)",
    "show_job(text, integer)",
    "show_job_like(text, integer)",
    "show_job_status(text, text, integer)",
    "show_job_status(text, integer)",
    "show_running(integer)",
    "_logging_sessions()",
}


@pytest.fixture
def monitor(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of a role given the README's monitor grants."""
    conn.execute("CREATE ROLE monitor LOGIN")
    conn.execute(readme_sql("monitor"))
    with cluster.connect(db, user="monitor") as session:
        yield session
    # Roles belong to the cluster, which every test shares.
    conn.execute("DROP OWNED BY monitor")
    conn.execute("DROP ROLE monitor")


def test_monitor_runs_the_checks_and_the_show_queries(
    conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    job_id = finished_job(conn, "watched", fail_level=3)
    finished_job(conn, "watched", fail_level=3)
    finished_job(conn, "watched", fail_level=3)
    alert = [(3, "FAILED_RUN", "WATCHED", "3 consecutive CRITICAL runs")]
    assert check_job_status(monitor) == alert
    assert check_job_status(monitor, "1 day") == alert
    for query in (
        "show_job('watched')",
        "show_job_like('^watch')",
        "show_job_status('CRITICAL')",
        "show_job_status('watched', 'CRITICAL')",
        f"show_detail({job_id})",
        "show_detail('watched')",
        "show_running()",
    ):
        monitor.execute(f"SELECT * FROM {SCHEMA}.{query}")


def test_monitor_can_execute_nothing_else(monitor: psycopg.Connection) -> None:
    executable = monitor.execute(
        "SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')' FROM pg_proc p"
        " WHERE p.pronamespace = %s::regnamespace AND has_function_privilege(p.oid, 'EXECUTE')",
        (SCHEMA,),
    ).fetchall()
    assert {row[0] for row in executable} == MONITOR_FUNCTIONS


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT {s}.add_job('x')",
        "SELECT {s}.add_step(1, 'x')",
        "SELECT {s}.update_step(1, 'x', 'y')",
        "SELECT {s}.close_job(1)",
        "SELECT {s}.fail_job(1)",
        "SELECT {s}.cancel_job(1)",
        "SELECT {s}.sql_step(1, 'x', 'SELECT 1')",
        "SELECT {s}.sql_job('x', 'SELECT 1')",
        "SELECT {s}.job_log_clear('1 day')",
        "INSERT INTO {s}.job_log (owner, job_name, start_time, pid) VALUES ('x', 'X', now(), 1)",
        "UPDATE {s}.job_log SET status = 'OK'",
        "DELETE FROM {s}.job_detail",
        "DELETE FROM {s}.job_check_log",
        "INSERT INTO {s}.job_check_config VALUES ('X', '1 hour', '2 hours')",
        "UPDATE {s}.job_status_text SET alert_text = 'X'",
        "SELECT * FROM {s}.dblink_mapping_jobmon",
    ],
)
def test_monitor_cannot_write_or_read_the_settings(
    monitor: psycopg.Connection, statement: str
) -> None:
    refusal(monitor, statement.format(s=SCHEMA), psycopg.errors.InsufficientPrivilege)


def plugin(tmp_path: Path) -> Path:
    script = tmp_path / "check_pg_jobmon"
    script.write_text(marked_block(MONITORING, "sh", "check_pg_jobmon"))
    script.chmod(0o755)
    return script


def run_plugin(script: Path, cluster: Cluster, db: str, port: int) -> tuple[int, list[str]]:
    done = subprocess.run(
        [str(script), "-h", cluster.node.host, "-p", str(port), "-d", db, "-U", "monitor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.splitlines()


def test_nagios_plugin_exit_status_follows_the_worst_alert(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection, tmp_path: Path
) -> None:
    script = plugin(tmp_path)
    port = cluster.node.port
    assert run_plugin(script, cluster, db, port) == (0, ["OK: All jobs run successfully"])
    for _ in range(3):
        finished_job(conn, "noisy", fail_level=2)
    assert run_plugin(script, cluster, db, port) == (
        1,
        ["WARNING: NOISY: 3 consecutive WARNING runs"],
    )
    for _ in range(3):
        finished_job(conn, "broken", fail_level=3)
    assert run_plugin(script, cluster, db, port) == (
        2,
        ["CRITICAL: BROKEN: 3 consecutive CRITICAL runs", "NOISY: 3 consecutive WARNING runs"],
    )
    status, lines = run_plugin(script, cluster, "no_such_database", port)
    assert status == 3
    assert lines[0].startswith("UNKNOWN: check_job_status() failed: ")


def test_cron_check_prints_nothing_while_all_is_well(
    conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    query = marked_block(MONITORING, "sql", "cron-check")
    assert check_job_status(monitor) == ALL_CLEAR
    assert monitor.execute(query).fetchall() == []
    for _ in range(3):
        finished_job(conn, "broken", fail_level=3)
    assert monitor.execute(query).fetchall() == [
        ("FAILED_RUN", "BROKEN", "3 consecutive CRITICAL runs")
    ]
