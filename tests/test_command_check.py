"""`pg_jobmon check`: the Nagios/Icinga plugin, run as installed, against real clusters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from command import command_environment, command_path, run_command
from fix_cluster import SCHEMA, TEMPLATE, Cluster, add_job, scalar, wait_until
from monitoring import MONITOR_PASSWORD, back_date, check_job_status, configure, finished_job
from tcp_proxy import TcpProxy

ZERO_COUNTS = {
    "failed_run": "0;;;0",
    "missing": "0;;;0",
    "running": "0;;;0",
    "blocked": "0;;;0",
    "warning": "0;;;0",
    "critical": "0;;;0",
}


def check(
    cluster: Cluster, db: str, *arguments: str, **variables: str
) -> tuple[int, list[str], str]:
    """Exit status, stdout lines and stderr of `pg_jobmon check arguments...`."""
    done = run_command(
        "check", *arguments, environment=command_environment(cluster, db, **variables)
    )
    return done.returncode, done.stdout.splitlines(), done.stderr


def perfdata(line: str) -> dict[str, str]:
    """The performance data of a status line, by label."""
    _, _, data = line.partition(" | ")
    return dict(field.split("=", 1) for field in data.split())


def counts(**values: int) -> dict[str, str]:
    return {**ZERO_COUNTS, **{label: f"{n};;;0" for label, n in values.items()}}


def test_the_exit_status_follows_the_worst_alert(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    status, lines, _ = check(cluster, db)
    assert status == 0
    assert lines == [
        "PG_JOBMON OK - All jobs run successfully | failed_run=0;;;0 missing=0;;;0"
        " running=0;;;0 blocked=0;;;0 warning=0;;;0 critical=0;;;0 oldest_missing=0s;;;0"
    ]
    for _ in range(3):
        finished_job(conn, "noisy", fail_level=2)
    status, lines, _ = check(cluster, db)
    assert status == 1
    assert lines[0].startswith(
        "PG_JOBMON WARNING - NOISY (FAILED_RUN): 3 consecutive WARNING runs | "
    )
    assert lines[1:] == ["WARNING: NOISY (FAILED_RUN): 3 consecutive WARNING runs"]
    assert perfdata(lines[0]) == {**counts(failed_run=1, warning=1), "oldest_missing": "0s;;;0"}
    for _ in range(3):
        finished_job(conn, "broken", fail_level=3)
    status, lines, _ = check(cluster, db)
    assert status == 2
    assert lines[0].startswith(
        "PG_JOBMON CRITICAL - BROKEN (FAILED_RUN): 3 consecutive CRITICAL runs (and 1 more) | "
    )
    assert lines[1:] == [
        "CRITICAL: BROKEN (FAILED_RUN): 3 consecutive CRITICAL runs",
        "WARNING: NOISY (FAILED_RUN): 3 consecutive WARNING runs",
    ]
    assert perfdata(lines[0])["critical"] == "1;;;0"


def test_perfdata_counts_each_status_and_the_oldest_missing_run(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    configure(conn, "LATE", warn="1 hour", error="2 hours")
    back_date(conn, finished_job(conn, "late"), "3 hours")
    configure(conn, "LATER", warn="1 hour", error="5 hours")
    back_date(conn, finished_job(conn, "later"), "4 hours")
    configure(conn, "NEVER RAN")
    configure(conn, "SLOW", warn="1 second", error="1 hour")
    with cluster.connect(db) as other:  # a live session: its run is in progress
        add_job(other, "slow")
        time.sleep(1.1)
        for _ in range(3):
            finished_job(conn, "broken", fail_level=3)
        expected = check_job_status(conn)
        status, lines, _ = check(cluster, db)
    assert status == 2
    assert [row[1] for row in expected] == [
        "FAILED_RUN",
        "MISSING",
        "MISSING",
        "MISSING",
        "RUNNING",
    ]
    data = perfdata(lines[0])
    age = data.pop("oldest_missing")
    assert data == counts(failed_run=1, missing=3, running=1, warning=2, critical=3)
    # LATER's run ended 4 hours ago; NEVER RAN has no run, so no age.
    assert age.endswith("s;;;0") and abs(int(age[: -len("s;;;0")]) - 4 * 3600) < 60
    assert len(lines) == 1 + len(expected)
    assert "SLOW (RUNNING): Currently running." in lines[-1]


def test_the_age_is_unknown_when_no_missing_job_ever_ran(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    configure(conn, "NEVER RAN")
    status, lines, _ = check(cluster, db)
    assert status == 2
    assert perfdata(lines[0])["oldest_missing"] == "U"


def test_period_is_check_job_status_interval(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    configure(conn, "OLD", warn="1 hour", error="2 hours")
    ended = back_date(conn, finished_job(conn, "old"), "3 days")
    status, lines, _ = check(cluster, db)
    assert "Has not completed a run since" in lines[0]
    status, lines, _ = check(cluster, db, "--period", "1 week")
    assert status == 2
    assert lines[1] == f"CRITICAL: OLD (MISSING): Last completed run: {ended}"
    status, lines, _ = check(cluster, db, "--period", "1 minute")
    assert status == 3
    assert lines[0].startswith(
        "PG_JOBMON UNKNOWN - ERROR: Input argument must be greater than or equal to"
    )
    status, lines, _ = check(cluster, db, "--period", "soon")
    assert status == 3 and "invalid input syntax for type interval" in lines[0]


@pytest.mark.parametrize(
    "arguments",
    [["--bogus"], ["--timeout", "0"], ["--timeout"], ["surplus"], ["--connect-timeout", "x"]],
)
def test_usage_errors_answer_unknown_on_stdout(
    cluster: Cluster, db: str, arguments: list[str]
) -> None:
    status, lines, stderr = check(cluster, db, *arguments)
    assert status == 3 and stderr == ""
    assert lines[0].startswith("PG_JOBMON UNKNOWN - ")
    assert lines[0].endswith("(see pg_jobmon check --help)")


def test_connection_options_as_psql_takes_them(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The cluster's port is not 5432: options, PG* variables and URIs all reach it."""
    host, port = cluster.node.host, str(cluster.node.port)
    assert port != "5432"
    bare = command_environment()
    for arguments in (
        ["-h", host, "-p", port, "-U", "postgres", "-d", db],
        ["--host", host, "--port", port, "--username", "postgres", "--dbname", db],
        ["-d", f"postgresql://postgres@{host}:{port}/{db}"],
        ["-d", f"host={host} port={port} user=postgres dbname={db}"],
    ):
        done = run_command("check", *arguments, environment=bare)
        assert (done.returncode, done.stdout[:23]) == (0, "PG_JOBMON OK - All jobs"), arguments
    done = run_command(
        "check",
        environment=command_environment(PGHOST=host, PGPORT=port, PGUSER="postgres", PGDATABASE=db),
    )
    assert done.returncode == 0
    status, lines, _ = check(cluster, "no_such_database")
    assert status == 3
    assert lines[0].startswith("PG_JOBMON UNKNOWN - connection ")
    assert 'database "no_such_database" does not exist' in lines[0]


def test_a_database_without_the_extension_is_unknown(cluster: Cluster) -> None:
    status, lines, _ = check(cluster, "postgres")
    assert status == 3
    assert lines == [
        'PG_JOBMON UNKNOWN - extension "pg_jobmon" is not installed in database "postgres"'
    ]


def test_the_monitor_role_runs_the_check(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    configure(conn, "LATE")
    back_date(conn, finished_job(conn, "late"), "3 hours")
    status, lines, stderr = check(cluster, db, "-U", "monitor")
    assert (status, stderr) == (2, "")
    assert perfdata(lines[0])["oldest_missing"].startswith("108")  # 3 hours: 10800 s


def test_a_query_past_its_timeout_is_unknown(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with conn.transaction():
        conn.execute(f"LOCK {SCHEMA}.job_check_log")
        started = time.monotonic()
        status, lines, _ = check(cluster, db, "--timeout", "1")
        took = time.monotonic() - started
    assert status == 3 and took < 10
    assert lines[0] == "PG_JOBMON UNKNOWN - ERROR: canceling statement due to statement timeout"


@pytest.mark.slow
def test_a_server_that_stops_answering_is_unknown_in_time(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A backend stopped mid-query cannot even send its statement_timeout error: the
    command stops waiting by itself, after the connect timeout plus the timeout."""
    with conn.transaction():
        conn.execute(f"LOCK {SCHEMA}.job_check_log")
        started = time.monotonic()
        running = subprocess.Popen(
            [str(command_path()), "check", "--timeout", "2", "--connect-timeout", "2"],
            env=command_environment(cluster, db),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        query = (
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'pg_jobmon check' AND wait_event_type = 'Lock'"
        )
        # Another session: pg_stat_activity stays as it was within one transaction.
        with cluster.connect(db) as watcher:
            wait_until(
                lambda: watcher.execute(query).fetchone() is not None, what="the check to wait"
            )
            pid = int(scalar(watcher, query))
        os.kill(pid, signal.SIGSTOP)
        try:
            output, _ = running.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
    assert running.returncode == 3 and 2 < took < 12
    assert output == "PG_JOBMON UNKNOWN - no answer from the server within 6 seconds\n"


def test_a_stopped_server_is_unknown_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    done = run_command(
        "check", "-h", "127.0.0.1", "-p", str(port), "-d", "app", environment=command_environment()
    )
    assert done.returncode == 3 and time.monotonic() - started < 5
    assert done.stdout.startswith("PG_JOBMON UNKNOWN - connection ")
    assert "Connection refused" in done.stdout


@pytest.mark.slow
def test_a_server_that_never_answers_is_unknown_within_the_connect_timeout(
    cluster: Cluster, db: str
) -> None:
    with TcpProxy(cluster.node.host, cluster.node.port) as proxy:
        proxy.black_hole()
        started = time.monotonic()
        done = run_command(
            "check",
            *("-h", proxy.host, "-p", str(proxy.port), "--connect-timeout", "2"),
            environment=command_environment(cluster, db),
        )
        took = time.monotonic() - started
    assert done.returncode == 3 and 1.5 < took < 8
    assert done.stdout.startswith("PG_JOBMON UNKNOWN - ") and "timeout expired" in done.stdout


# A role with a password, over TCP, where the server asks for it; stdin closed, no
# terminal, no .pgpass: the check must fail at once, never ask (the cluster `guarded`).
@pytest.mark.parametrize(
    ("password", "error"),
    [
        (None, "no password supplied"),
        ("wrong", 'password authentication failed for user "monitor"'),
        (MONITOR_PASSWORD, None),
    ],
)
def test_a_password_comes_from_pgpass_and_is_never_asked_for(
    guarded: Cluster, tmp_path: Path, password: str | None, error: str | None
) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text("" if password is None else f"*:*:*:monitor:{password}\n")
    passfile.chmod(0o600)
    environment = command_environment(PGPASSFILE=str(passfile), HOME=str(tmp_path))
    arguments = ["-h", "127.0.0.1", "-p", str(guarded.node.port), "-U", "monitor"]
    started = time.monotonic()
    done = subprocess.run(
        [str(command_path()), "check", *arguments, "-d", TEMPLATE],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,  # no controlling terminal to prompt on
        check=False,
    )
    assert time.monotonic() - started < 5
    assert "Password" not in done.stdout + done.stderr
    if error is None:
        assert (done.returncode, done.stdout[:23]) == (0, "PG_JOBMON OK - All jobs")
    else:
        assert done.returncode == 3 and error in done.stdout
        assert done.stdout.startswith("PG_JOBMON UNKNOWN - connection ")


def test_help_of_the_program_and_of_check() -> None:
    done = run_command("--help")
    assert done.returncode == 0 and "check" in done.stdout
    for option in ("-?", "--help"):
        done = run_command("check", option)
        assert done.returncode == 0 and done.stderr == ""
        assert done.stdout.startswith("usage: pg_jobmon check")
        for documented in ("--period", "--timeout", "--host", "--connect-timeout", "UNKNOWN"):
            assert documented in done.stdout
    done = run_command()
    assert done.returncode == 2
    assert done.stderr.startswith("pg_jobmon: error: ")
    assert 'Try "pg_jobmon --help" for more information.' in done.stderr


def test_a_python_without_psycopg_gets_an_error_that_says_so() -> None:
    """The command's Python, with its site packages (where psycopg lives) left out."""
    interpreter = command_path().read_bytes().split(b"\n", 1)[0][2:].decode().strip()
    done = subprocess.run(
        [interpreter, "-S", str(command_path()), "check"],
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(
        f"pg_jobmon: error: the Python module psycopg is not installed for {interpreter}\n"
    )
    assert "apt install python3-psycopg" in done.stderr
