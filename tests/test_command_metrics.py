"""`pg_jobmon metrics` and the collector files of doc/collectors/, against real clusters."""

from __future__ import annotations

import contextlib
import http.client
import math
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from command import command_environment, command_path, run_command
from fix_cluster import SCHEMA, TEMPLATE, Cluster, add_job, scalar, started_cluster, wait_until
from monitoring import configure, finished_job, moved_job
from readme import MONITORING, ROOT, marked_block, readme_sql

from cli.metrics import MAX_CLIENTS, REQUEST_DEADLINE, REQUEST_LIMIT

COLLECTORS = ROOT / "doc" / "collectors"
# A sample's identity: its metric name and its labels.
Key = tuple[str, frozenset[tuple[str, str]]]
HOSTILE = 'EVIL "JOB" \\ WITH\nTWO LINES'
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text: str) -> dict[Key, float]:
    """The samples of an exposition in text format 0.0.4; checks each family's HELP and
    TYPE lines come first, once."""
    samples: dict[Key, float] = {}
    described: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            described.append(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            assert line.split()[2:] == [described[-1], "gauge"]
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name == described[-1], f"{name} out of its family"
        pairs = frozenset((key, unescape(raw)) for key, raw in _LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    assert len(described) == len(set(described)), "a family described twice"
    return samples


def unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), raw)


def key(name: str, **labels: str) -> Key:
    return (name, frozenset(labels.items()))


def metrics(cluster: Cluster, db: str, *arguments: str) -> dict[Key, float]:
    done = run_command("metrics", *arguments, environment=command_environment(cluster, db))
    assert (done.returncode, done.stderr) == (0, "")
    return parse(done.stdout)


def timed(conn: psycopg.Connection, job_id: int, ago: str, took: str) -> tuple[float, float]:
    """moved_job(), as the Unix times the metrics show."""
    start, end = moved_job(conn, job_id, ago, took)
    return start.timestamp(), end.timestamp()


def known_history(conn: psycopg.Connection) -> dict[str, float]:
    """Jobs with hand-set times; the times the metrics must show."""
    times: dict[str, float] = {}
    timed(conn, finished_job(conn, "nightly"), "2 days", "5 seconds")  # out of the window
    _, times["ok_end_1"] = timed(conn, finished_job(conn, "nightly"), "3 hours", "10 seconds")
    _, times["failed_end"] = timed(
        conn, finished_job(conn, "nightly", fail_level=3), "2 hours", "20 seconds"
    )
    times["last_start"], times["ok_end"] = timed(
        conn, finished_job(conn, "nightly"), "1 hour", "60 seconds"
    )
    for ago in ("3 minutes", "2 minutes", "1 minute"):
        timed(conn, finished_job(conn, "broken", fail_level=3), ago, "1 second")
    configure(conn, "NEVER RAN")
    times["hostile_start"], _ = timed(conn, finished_job(conn, HOSTILE), "10 minutes", "2 seconds")
    return times


def test_metrics_follow_a_known_history(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    times = known_history(conn)
    with cluster.connect(db) as other:  # a run in progress in a live session
        add_job(other, "nightly")
        samples = metrics(cluster, db)

    def job(metric: str, name: str) -> float | None:
        return samples.get(key(f"pg_jobmon_job_{metric}", job_name=name))

    assert samples[key("pg_jobmon_up")] == 1
    assert job("last_start_timestamp_seconds", "NIGHTLY") is not None
    assert job("last_start_timestamp_seconds", "NIGHTLY") > times["last_start"]  # type: ignore[operator]
    assert job("last_success_timestamp_seconds", "NIGHTLY") == pytest.approx(times["ok_end"])
    assert job("last_failure_timestamp_seconds", "NIGHTLY") == pytest.approx(times["failed_end"])
    assert job("window_runs", "NIGHTLY") == 4  # 3 ended within a day, 1 running
    assert job("window_failures", "NIGHTLY") == 1
    # percentile_cont over 10, 20 and 60 seconds.
    assert job("duration_p50_seconds", "NIGHTLY") == pytest.approx(20)
    assert job("duration_p95_seconds", "NIGHTLY") == pytest.approx(56)
    assert job("duration_max_seconds", "NIGHTLY") == pytest.approx(60)
    assert job("running", "NIGHTLY") == 1
    assert job("alert_code", "NIGHTLY") == 1
    assert job("alert_code", "BROKEN") == 3
    assert job("window_failures", "BROKEN") == 3
    assert job("last_success_timestamp_seconds", "BROKEN") is None
    # A configured job that never ran: counts, and no times at all.
    assert {name for name, labels in samples if ("job_name", "NEVER RAN") in labels} == {
        "pg_jobmon_job_window_runs",
        "pg_jobmon_job_window_failures",
        "pg_jobmon_job_running",
        "pg_jobmon_job_alert_code",
    }
    assert job("window_runs", "NEVER RAN") == 0
    # The hostile name comes back whole from its escaped label.
    assert job("last_start_timestamp_seconds", HOSTILE) == pytest.approx(times["hostile_start"])
    problems = {
        (dict(labels)["alert_status"], dict(labels)["level"]): value
        for (name, labels), value in samples.items()
        if name == "pg_jobmon_problems"
    }
    assert problems == {
        (status, level): 0.0
        for status in ("FAILED_RUN", "MISSING", "RUNNING", "BLOCKED")
        for level in ("warning", "critical")
    } | {("FAILED_RUN", "critical"): 1.0, ("MISSING", "critical"): 1.0}


def test_label_values_and_help_are_escaped(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    finished_job(conn, HOSTILE)
    done = run_command("metrics", environment=command_environment(cluster, db))
    assert 'job_name="EVIL \\"JOB\\" \\\\ WITH\\nTWO LINES"' in done.stdout
    assert all(line.startswith(("#", "pg_jobmon_")) for line in done.stdout.splitlines()), (
        "a line break escaped the label"
    )


def test_the_window_is_a_setting_of_the_session(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    known_history(conn)
    runs = "pg_jobmon_job_window_runs"
    assert metrics(cluster, db)[key(runs, job_name="NIGHTLY")] == 3
    assert metrics(cluster, db, "--window", "90 minutes")[key(runs, job_name="NIGHTLY")] == 1
    assert metrics(cluster, db, "--window", "3 days")[key(runs, job_name="NIGHTLY")] == 4
    done = run_command("metrics", "--window", "soon", environment=command_environment(cluster, db))
    assert done.returncode == 1
    assert done.stderr.startswith("pg_jobmon: error: ")
    assert "pg_jobmon_up 0" in done.stdout


def test_the_monitor_role_reads_the_metrics(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    known_history(conn)
    assert metrics(cluster, db, "-U", "monitor") == metrics(cluster, db)


def test_an_unreachable_database_prints_up_0_and_fails(cluster: Cluster) -> None:
    done = run_command("metrics", "-h", "127.0.0.1", "-p", "1", environment=command_environment())
    assert done.returncode == 1
    assert parse(done.stdout) == {key("pg_jobmon_up"): 0}
    assert done.stderr.startswith("pg_jobmon: error: connection ")


def test_help_of_metrics() -> None:
    done = run_command("metrics", "--help")
    assert done.returncode == 0
    for documented in ("--window", "--listen", "--timeout", "--port", "--connect-timeout"):
        assert documented in done.stdout
    done = run_command("metrics", "--listen", "nowhere")
    assert done.returncode == 2
    assert done.stderr.startswith("pg_jobmon: error: argument --listen: not [ADDR:]PORT")
    assert 'Try "pg_jobmon metrics --help" for more information.' in done.stderr


# ---------------------------------------------------------------------------------------
# Served over HTTP


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of the test's own, to stop and start."""
    with started_cluster() as running:
        running.create_template()
        yield running


def scrape(url: str) -> dict[Key, float]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return parse(answer.read().decode())


def serving(environment: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`pg_jobmon metrics --listen` on a free port, and its URL once it serves."""
    server = subprocess.Popen(
        [str(command_path()), "metrics", "--listen", "127.0.0.1:0", "--connect-timeout", "3"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    first = server.stderr.readline()
    match = re.fullmatch(r"pg_jobmon: serving metrics on http://(\S+)/metrics\n", first)
    if match is None:
        server.kill()
    assert match, first
    return server, f"http://{match.group(1)}/metrics"


@pytest.mark.slow
def test_served_scrapes_say_whether_the_database_is_up(own_cluster: Cluster) -> None:
    server, url = serving(command_environment(own_cluster, TEMPLATE))
    try:
        assert server.stderr is not None
        with own_cluster.connect(TEMPLATE) as conn:
            finished_job(conn, "served")
        up = key("pg_jobmon_up")
        samples = scrape(url)
        assert samples[up] == 1
        assert samples[key("pg_jobmon_job_window_runs", job_name="SERVED")] == 1
        own_cluster.node.stop()
        assert scrape(url) == {up: 0}
        own_cluster.node.start()
        assert scrape(url)[up] == 1  # the lost connection replaced
        assert scrape(url)[up] == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=30)
        assert missing.value.code == 404
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
        rest = server.stderr.read()
        assert "pg_jobmon: stopping" in rest
        assert "scrape failed" in rest  # the scrape while the server was down
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def trickle(url: str, seconds: float, every: float) -> float:
    """A client that sends a request one byte every ``every`` seconds, for ``seconds``
    (never a whole request); how long the server let it go on."""
    started = time.monotonic()
    request = b"GET /metrics HTTP/1.0\r\nUser-Agent: " + b"s" * 100
    with socket.create_connection(address(url), timeout=30) as client:
        for byte in request:
            if time.monotonic() - started >= seconds:
                break
            readable, _, _ = select.select([client], [], [], every)
            if readable and not client.recv(1):
                break  # the server closed the connection
            client.sendall(bytes([byte]))
    return time.monotonic() - started


def timed_scrape(url: str) -> float:
    started = time.monotonic()
    assert scrape(url)[key("pg_jobmon_up")] == 1
    return time.monotonic() - started


@contextlib.contextmanager
def served(environment: dict[str, str]) -> Iterator[str]:
    """The URL of `pg_jobmon metrics --listen`, killed on the way out."""
    server, url = serving(environment)
    try:
        yield url
    finally:
        server.kill()
        server.wait()


def test_a_trickling_client_does_not_delay_a_scrape(cluster: Cluster, db: str) -> None:
    """A client that sends one byte a second for 10 s: scrapes meanwhile answer at once,
    and the server closes the slow client's connection at its request deadline."""
    with served(command_environment(cluster, db)) as url, ThreadPoolExecutor(1) as pool:
        timed_scrape(url)  # the database connection is opened: not what is measured
        slow = pool.submit(trickle, url, seconds=10, every=1)
        latencies = []
        for _ in range(4):
            time.sleep(1)
            latencies.append(timed_scrape(url))
        let_go_on = slow.result(timeout=30)
    print("scrape latencies while a client trickles:", [f"{s * 1000:.1f} ms" for s in latencies])
    assert max(latencies) < 2
    assert REQUEST_DEADLINE <= let_go_on < REQUEST_DEADLINE + 3


def test_idle_connections_cannot_lock_a_scraper_out(cluster: Cluster, db: str) -> None:
    """More silent connections than the server serves at once: the oldest make room."""
    with served(command_environment(cluster, db)) as url, contextlib.ExitStack() as idle:
        timed_scrape(url)
        for _ in range(MAX_CLIENTS + 8):
            idle.enter_context(socket.create_connection(address(url), timeout=30))
        assert timed_scrape(url) < 2


def test_a_request_too_large_is_refused(cluster: Cluster, db: str) -> None:
    request = b"GET /metrics HTTP/1.0\r\nX-Padding: " + b"x" * REQUEST_LIMIT + b"\r\n\r\n"
    with (
        served(command_environment(cluster, db)) as url,
        socket.create_connection(address(url), timeout=30) as client,
    ):
        with contextlib.suppress(ConnectionError):
            client.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := client.recv(65536):
                answer += chunk
    assert b"200 OK" not in answer


# ---------------------------------------------------------------------------------------
# The collector files


def test_the_collector_files_are_those_of_the_metrics_sql() -> None:
    """doc/collectors/ holds what scripts/collectors.py writes from cli/metrics_sql.py."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import collectors
    finally:
        sys.path.pop(0)
    for name, write in collectors.FILES.items():
        assert (COLLECTORS / name).read_text() == write(), f"run scripts/collectors.py: {name}"


def sql_exporter_samples(conn: psycopg.Connection) -> dict[Key, float]:
    """What sql_exporter makes of its collector file: NULL values are not collected."""
    collector = yaml.safe_load((COLLECTORS / "sql_exporter.collector.yml").read_text())
    queries = {q["query_name"]: q["query"] for q in collector["queries"]}
    samples: dict[Key, float] = {}
    for metric in collector["metrics"]:
        assert metric["type"] == "gauge" and len(metric["values"]) == 1
        for row in rows(conn, queries[metric["query_ref"]]):
            value = row[metric["values"][0]]
            if value is not None:
                labels = frozenset((label, str(row[label])) for label in metric["key_labels"])
                samples[(metric["metric_name"], labels)] = float(value)
    return samples


def postgres_exporter_samples(conn: psycopg.Connection) -> dict[Key, float]:
    """What postgres_exporter makes of its queries file: <namespace>_<column>, NULL as NaN."""
    queries = yaml.safe_load((COLLECTORS / "postgres_exporter.queries.yaml").read_text())
    samples: dict[Key, float] = {}
    for namespace, query in queries.items():
        columns = {name: spec["usage"] for item in query["metrics"] for name, spec in item.items()}
        labels = [name for name, usage in columns.items() if usage == "LABEL"]
        for row in rows(conn, query["query"]):
            pairs = frozenset((label, str(row[label])) for label in labels)
            for column, usage in columns.items():
                if usage == "GAUGE":
                    value = row[column]
                    number = math.nan if value is None else float(value)
                    samples[(f"{namespace}_{column}", pairs)] = number
    return samples


def rows(conn: psycopg.Connection, query: str) -> list[dict[str, Any]]:
    cursor = conn.execute(query.encode())
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_the_collector_files_give_what_the_command_prints(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    known_history(conn)
    # Both read the same moment's history: the command, then the files' queries.
    printed = metrics(cluster, db)
    del printed[key("pg_jobmon_up")]  # the exporters have their own
    assert sql_exporter_samples(conn) == printed
    from_queries = postgres_exporter_samples(conn)
    assert {k: v for k, v in from_queries.items() if not math.isnan(v)} == printed
    assert {k[0] for k, v in from_queries.items() if math.isnan(v)} == {
        "pg_jobmon_job_last_start_timestamp_seconds",
        "pg_jobmon_job_last_success_timestamp_seconds",
        "pg_jobmon_job_last_failure_timestamp_seconds",
        "pg_jobmon_job_duration_p50_seconds",
        "pg_jobmon_job_duration_p95_seconds",
        "pg_jobmon_job_duration_max_seconds",
    }


def test_the_collector_files_name_every_metric_once() -> None:
    collector = yaml.safe_load((COLLECTORS / "sql_exporter.collector.yml").read_text())
    names = [metric["metric_name"] for metric in collector["metrics"]]
    assert len(names) == len(set(names)) == 11
    assert all(name.startswith("pg_jobmon_") for name in names)
    queries = yaml.safe_load((COLLECTORS / "postgres_exporter.queries.yaml").read_text())
    columns = [
        f"{namespace}_{name}"
        for namespace, query in queries.items()
        for item in query["metrics"]
        for name, spec in item.items()
        if spec["usage"] == "GAUGE"
    ]
    assert sorted(columns) == sorted(names)


def test_the_documented_command_lines(cluster: Cluster, db: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE ROLE monitor LOGIN")
    try:
        conn.execute(readme_sql("monitor"))
        for block in ("metrics", "metrics-listen"):
            arguments = shlex.split(marked_block(MONITORING, "sh", block))
            assert arguments[:2] == ["pg_jobmon", "metrics"]
            options = dict(zip(arguments[2::2], arguments[3::2]))
            assert {k: options.pop(k) for k in ("-h", "-p", "-d", "-U")} == {
                "-h": "localhost",
                "-p": "5432",
                "-d": "app",
                "-U": "monitor",
            }
            assert options in ({}, {"--listen": "127.0.0.1:9188"})
        actual = ["-h", cluster.node.host, "-p", str(cluster.node.port), "-d", db, "-U", "monitor"]
        done = run_command("metrics", *actual, environment=command_environment())
        assert done.returncode == 0 and parse(done.stdout)[key("pg_jobmon_up")] == 1
    finally:
        conn.execute("DROP OWNED BY monitor")
        conn.execute("DROP ROLE monitor")


def test_sigterm_in_the_middle_of_a_scrape_ends_the_server(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A scrape waits for a lock; SIGTERM then ends the server at once, with status 0."""
    server, url = serving(command_environment(cluster, db))
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'pg_jobmon metrics' AND wait_event_type = 'Lock'"
    )
    try:
        with (
            cluster.connect(db) as observer,
            conn.transaction(),
            ThreadPoolExecutor(max_workers=1) as pool,
        ):
            conn.execute(f"LOCK {SCHEMA}.job_check_log")
            pending = pool.submit(urllib.request.urlopen, url, timeout=30)
            # Read outside the locking transaction, whose view of pg_stat_activity is fixed.
            wait_until(lambda: scalar(observer, waiting) == 1, what="the scrape to wait")
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=10) == 0
            with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
                pending.result(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
