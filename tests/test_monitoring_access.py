"""A monitoring role, the Nagios check and the cron check, as the README and doc/ give them."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from command import command_environment, command_path
from fix_cluster import PUBLIC_FUNCTIONS, SCHEMA, TEMPLATE, Cluster, refusal
from monitoring import ALL_CLEAR, MONITOR_PASSWORD, check_job_status, finished_job
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
        "job_summary",
        "logging_sessions",
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


def nagios_check(host: str, port: int, dbname: str) -> list[str]:
    """The documented `pg_jobmon check` line, run as installed, with this cluster's
    address and database."""
    arguments = shlex.split(marked_block(MONITORING, "sh", "nagios-check"))
    assert arguments[:2] == ["pg_jobmon", "check"]
    documented = {"-h": "localhost", "-p": "5432", "-d": "app", "-U": "monitor"}
    assert dict(zip(arguments[2::2], arguments[3::2])) == documented
    actual = {"-h": host, "-p": str(port), "-d": dbname, "-U": "monitor"}
    return [str(command_path()), "check", *(x for pair in actual.items() for x in pair)]


def run_plugin(cluster: Cluster, db: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        nagios_check(cluster.node.host, cluster.node.port, db),
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, [line.split(" | ")[0] for line in done.stdout.splitlines()]


def test_nagios_plugin_exit_status_follows_the_worst_alert(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    assert run_plugin(cluster, db) == (0, ["PG_JOBMON OK - All jobs run successfully"])
    for _ in range(3):
        finished_job(conn, "noisy", fail_level=2)
    assert run_plugin(cluster, db) == (
        1,
        [
            "PG_JOBMON WARNING - NOISY (FAILED_RUN): 3 consecutive WARNING runs",
            "WARNING: NOISY (FAILED_RUN): 3 consecutive WARNING runs",
        ],
    )
    for _ in range(3):
        finished_job(conn, "broken", fail_level=3)
    assert run_plugin(cluster, db) == (
        2,
        [
            "PG_JOBMON CRITICAL - BROKEN (FAILED_RUN): 3 consecutive CRITICAL runs (and 1 more)",
            "CRITICAL: BROKEN (FAILED_RUN): 3 consecutive CRITICAL runs",
            "WARNING: NOISY (FAILED_RUN): 3 consecutive WARNING runs",
        ],
    )
    status, lines = run_plugin(cluster, "no_such_database")
    assert status == 3
    assert lines[0].startswith("PG_JOBMON UNKNOWN - connection ")


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


def test_the_job_runner_grants_do_not_run_the_checks(cluster: Cluster, db: str) -> None:
    """As the README says: check_job_status() also reads job_check_log and job_check_config."""
    with cluster.connect(db) as conn:
        conn.execute("CREATE ROLE job_runner LOGIN")
        try:
            conn.execute(readme_sql("job-runner"))
            with cluster.connect(db, user="job_runner") as runner:
                refusal(
                    runner,
                    f"SELECT * FROM {SCHEMA}.check_job_status()",
                    psycopg.errors.InsufficientPrivilege,
                )
        finally:
            conn.execute("DROP OWNED BY job_runner")
            conn.execute("DROP ROLE job_runner")


# The recipes as a DBA pastes them: role monitor with a password, over TCP, where the
# server asks for it (the cluster `guarded`); the password from the OS user's ~/.pgpass
# (here PGPASSFILE).
PROMPT = "Password for user"


def recipe_environment(tmp_path: Path, password: str | None) -> dict[str, str]:
    """The environment of the OS user that runs a recipe: its .pgpass, and no terminal."""
    passfile = tmp_path / "pgpass"
    passfile.write_text("" if password is None else f"*:*:*:monitor:{password}\n")
    passfile.chmod(0o600)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**inherited, "PGPASSFILE": str(passfile)}


def run_detached(command: list[str], environment: dict[str, str]) -> tuple[int, str, float]:
    """Exit status, output (stdout and stderr) and seconds of ``command``, run with no
    terminal and nothing to read: a password prompt would show in the output."""
    started = time.monotonic()
    done = subprocess.run(
        command,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def cron_command(host: str, port: int, dbname: str) -> str:
    """The command of the documented crontab line, with this cluster's address."""
    (line,) = [
        line
        for line in marked_block(MONITORING, "cron", "pg_jobmon").splitlines()
        if line.startswith("*/5")
    ]
    fields = line.split(maxsplit=6)
    assert fields[5] == "postgres", "the crontab line names its OS user"
    command = fields[6]
    for documented, actual in (("-h localhost", f"-h {host}"), ("-p 5432", f"-p {port}")):
        assert command.count(documented) == 1, documented
        command = command.replace(documented, actual)
    assert command.count(" -U monitor ") == 1 and command.count(" -d app ") == 1
    return command.replace(" -d app ", f" -d {dbname} ")


def test_the_recipes_log_in_as_monitor_with_the_pgpass_password(
    guarded: Cluster, tmp_path: Path
) -> None:
    host, port = guarded.node.host, int(guarded.node.port)
    environment = recipe_environment(tmp_path, MONITOR_PASSWORD)
    cron = ["sh", "-c", cron_command(host, port, TEMPLATE)]
    assert run_detached(cron, environment)[:2] == (0, "")
    status, output, _ = run_detached(nagios_check(host, port, TEMPLATE), environment)
    assert (status, output.split(" | ")[0]) == (0, "PG_JOBMON OK - All jobs run successfully")
    with guarded.connect(TEMPLATE) as conn:
        for _ in range(3):
            finished_job(conn, "recipe", fail_level=3)
        try:
            assert run_detached(cron, environment)[:2] == (
                0,
                "FAILED_RUN|RECIPE|3 consecutive CRITICAL runs\n",
            )
            status, output, _ = run_detached(nagios_check(host, port, TEMPLATE), environment)
            assert (status, output.split(" | ")[0]) == (
                2,
                "PG_JOBMON CRITICAL - RECIPE (FAILED_RUN): 3 consecutive CRITICAL runs",
            )
        finally:
            conn.execute(f"DELETE FROM {SCHEMA}.job_check_log")


@pytest.mark.parametrize(
    ("password", "error"),
    [("wrong", 'password authentication failed for user "monitor"'), (None, "no password")],
)
def test_the_recipes_never_ask_for_a_password(
    guarded: Cluster, tmp_path: Path, password: str | None, error: str
) -> None:
    host, port = guarded.node.host, int(guarded.node.port)
    environment = recipe_environment(tmp_path, password)
    status, output, _ = run_detached(["sh", "-c", cron_command(host, port, TEMPLATE)], environment)
    assert status == 2 and error in output and PROMPT not in output
    status, output, _ = run_detached(nagios_check(host, port, TEMPLATE), environment)
    assert status == 3 and output.startswith("PG_JOBMON UNKNOWN - connection ")
    assert error in output and PROMPT not in output


@pytest.mark.slow
def test_the_recipes_give_up_on_a_server_that_never_answers(tmp_path: Path) -> None:
    """A port that takes connections and never answers: each recipe ends in 10 seconds."""
    environment = recipe_environment(tmp_path, MONITOR_PASSWORD)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        status, output, took = run_detached(
            ["sh", "-c", cron_command("127.0.0.1", port, "app")], environment
        )
        assert status == 2 and "timeout expired" in output and 9 < took < 30
        status, output, took = run_detached(nagios_check("127.0.0.1", port, "app"), environment)
        assert status == 3 and "timeout expired" in output and 9 < took < 30
