"""The view job_summary: a row per job name for dashboards, cheap on a big log."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from command import command_environment, run_command
from fix_cluster import SCHEMA, Cluster, add_job, refusal, scalar, wait_until
from monitoring import configure, finished_job, moved_job
from readme import MONITORING, marked_block

# The columns and types of the view, in order, as the metrics and the docs rely on them.
COLUMNS = [
    ("job_name", "text"),
    ("last_job_id", "bigint"),
    ("last_start", "timestamp with time zone"),
    ("last_end", "timestamp with time zone"),
    ("last_status", "text"),
    ("last_success", "timestamp with time zone"),
    ("last_failure", "timestamp with time zone"),
    ("last_failure_status", "text"),
    ("running", "integer"),
    ("alert_code", "integer"),
    ("alert_text", "text"),
    ("window_length", "interval"),
    ("runs", "bigint"),
    ("failures", "bigint"),
    ("duration_p50", "interval"),
    ("duration_p95", "interval"),
    ("duration_max", "interval"),
]
SETTING = "pg_jobmon.summary_window"
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def summary(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """The rows of job_summary by job name, each as a dict of its columns."""
    cursor = conn.execute(f"SELECT * FROM {SCHEMA}.job_summary")
    names = [column.name for column in cursor.description or []]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def no_runs(**columns: Any) -> dict[str, Any]:
    """A row of a name with no run, with ``columns`` set on top."""
    row: dict[str, Any] = {name: None for name, _ in COLUMNS}
    row.update(running=0, window_length=DAY, runs=0, failures=0)
    row.update(columns)
    return row


def run(
    conn: psycopg.Connection, name: str, ago: str, took: str, fail_level: int | None = None
) -> tuple[int, datetime, datetime]:
    """A job of ``name`` that ended (failed at ``fail_level``), moved back in time:
    (job_id, start, end)."""
    job_id = finished_job(conn, name, fail_level)
    return (job_id, *moved_job(conn, job_id, ago, took))


def ended(
    name: str, job: tuple[int, datetime, datetime], status: str, **columns: Any
) -> dict[str, Any]:
    """The row of ``name`` whose latest run is ``job``, ended with ``status``."""
    job_id, start, end = job
    return no_runs(
        job_name=name,
        last_job_id=job_id,
        last_start=start,
        last_end=end,
        last_status=status,
        **columns,
    )


def test_columns_are_the_documented_ones_in_order(conn: psycopg.Connection) -> None:
    columns = conn.execute(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 ORDER BY a.attnum",
        (f"{SCHEMA}.job_summary",),
    ).fetchall()
    assert columns == COLUMNS
    assert summary(conn) == {}


def test_every_column_follows_a_hand_built_history(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    # NIGHTLY: a good run 3 days ago, outside the window of a day; in it a WARNING, a good
    # run and a CRITICAL, whose alert is the name's.
    run(conn, "nightly", "3 days", "1 minute")
    run(conn, "nightly", "3 hours", "5 minutes", fail_level=2)
    good = run(conn, "nightly", "2 hours", "1 minute")
    critical = run(conn, "nightly", "1 hour", "10 minutes", fail_level=3)
    # ESCALATING: its second WARNING is escalated to CRITICAL.
    configure(conn, "ESCALATING", escalate=2)
    run(conn, "escalating", "40 minutes", "2 minutes", fail_level=2)
    escalated = run(conn, "escalating", "20 minutes", "4 minutes", fail_level=2)
    # CUSTOM: a failure at a code of the DBA's own.
    conn.execute(f"INSERT INTO {SCHEMA}.job_status_text VALUES (4, 'FATAL')")
    fatal = run(conn, "custom", "10 minutes", "30 seconds", fail_level=4)
    # STEADY: never failed.
    run(conn, "steady", "30 hours", "1 minute")
    steady = run(conn, "steady", "6 hours", "3 minutes")
    # A configured name that never ran, and a configured one that did.
    configure(conn, "NEVER RAN")
    configure(conn, "STEADY")
    # ABANDONED: its session ended without ending it, and nobody has noticed yet.
    with cluster.connect(db) as gone:
        abandoned = add_job(gone, "abandoned")
        gone_pid = gone.info.backend_pid
    wait_until(
        lambda: (
            not scalar(conn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (gone_pid,))
        ),
        what="the abandoned job's session to end",
    )
    with cluster.connect(db) as worker:
        running = add_job(worker, "running")
        starts: dict[int, datetime] = dict(
            conn.execute(
                f"SELECT job_id, start_time FROM {SCHEMA}.job_log WHERE job_id IN (%s, %s)",
                (abandoned, running),
            ).fetchall()
        )

        rows = summary(conn)

    assert list(rows) == [
        "ABANDONED",
        "CUSTOM",
        "ESCALATING",
        "NEVER RAN",
        "NIGHTLY",
        "RUNNING",
        "STEADY",
    ]
    assert rows["NIGHTLY"] == ended(
        "NIGHTLY",
        critical,
        "CRITICAL",
        last_success=good[2],
        last_failure=critical[2],
        last_failure_status="CRITICAL",
        alert_code=3,
        alert_text="CRITICAL",
        runs=3,
        failures=2,
        # 1, 5 and 10 minutes: the 95th percentile is interpolated between 5 and 10.
        duration_p50=5 * MINUTE,
        duration_p95=9.5 * MINUTE,
        duration_max=10 * MINUTE,
    )
    assert rows["ESCALATING"] == ended(
        "ESCALATING",
        escalated,
        "ESCALATED",
        last_failure=escalated[2],
        last_failure_status="ESCALATED",
        alert_code=3,
        alert_text="CRITICAL",
        runs=2,
        failures=2,
        duration_p50=3 * MINUTE,
        duration_p95=3.9 * MINUTE,
        duration_max=4 * MINUTE,
    )
    assert rows["CUSTOM"] == ended(
        "CUSTOM",
        fatal,
        "FATAL",
        last_failure=fatal[2],
        last_failure_status="FATAL",
        alert_code=4,
        alert_text="FATAL",
        runs=1,
        failures=1,
        duration_p50=MINUTE / 2,
        duration_p95=MINUTE / 2,
        duration_max=MINUTE / 2,
    )
    assert rows["STEADY"] == ended(
        "STEADY",
        steady,
        "OK",
        last_success=steady[2],
        runs=1,
        duration_p50=3 * MINUTE,
        duration_p95=3 * MINUTE,
        duration_max=3 * MINUTE,
    )
    assert rows["NEVER RAN"] == no_runs(job_name="NEVER RAN")
    # Runs not ended count as runs, with no duration; only a live session's is running.
    for name, job_id, live in (("ABANDONED", abandoned, 0), ("RUNNING", running, 1)):
        assert rows[name] == no_runs(
            job_name=name, last_job_id=job_id, last_start=starts[job_id], running=live, runs=1
        )


def test_running_counts_each_live_run_of_the_name(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with cluster.connect(db) as first, cluster.connect(db) as second:
        add_job(first, "busy")
        add_job(second, "busy")
        assert summary(conn)["BUSY"]["running"] == 2
    # A newer session that took a dead job's pid does not run that job.
    job_id = add_job(conn, "busy")
    conn.execute(
        f"UPDATE {SCHEMA}.job_log SET start_time = now() - interval '1 day' WHERE job_id = %s",
        (job_id,),
    )
    assert summary(conn)["BUSY"]["running"] == 0


def test_the_window_follows_the_setting(conn: psycopg.Connection) -> None:
    for ago in ("2 hours", "3 days", "10 days"):
        run(conn, "weekly", ago, "1 minute", fail_level=3)

    def window() -> tuple[timedelta, int, int]:
        row = summary(conn)["WEEKLY"]
        return row["window_length"], row["runs"], row["failures"]

    assert window() == (DAY, 1, 1)  # not set: a day
    for value, length, runs in (
        ("7 days", 7 * DAY, 2),
        ("1 month", 30 * DAY, 3),
        ("12:00", DAY / 2, 1),
    ):
        conn.execute(f"SET {SETTING} = '{value}'")
        assert window() == (length, runs, runs), value
    conn.execute(f"RESET {SETTING}")  # set before, so now empty: a day again
    assert window() == (DAY, 1, 1)


@pytest.mark.parametrize("value", ["a week or so", "0", "-1 day", "1 day ago"])
def test_a_bad_window_is_refused_naming_the_setting(conn: psycopg.Connection, value: str) -> None:
    add_job(conn, "any")
    conn.execute(f"SET {SETTING} = '{value}'")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        conn.execute(f"SELECT * FROM {SCHEMA}.job_summary")
    diag = raised.value.diag
    assert diag.message_primary == f'invalid value for parameter "{SETTING}": "{value}"'
    assert diag.message_detail == "The window of job_summary is an interval longer than zero."
    assert diag.message_hint == "Set it to an interval such as '7 days', or reset it for 1 day."


def test_the_monitor_reads_what_the_owner_reads(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    finished_job(conn, "watched", fail_level=3)
    with cluster.connect(db) as worker:
        add_job(worker, "watched")  # another role's session: the monitor sees it run
        rows = summary(monitor)
        assert rows == summary(conn)
    assert (rows["WATCHED"]["running"], rows["WATCHED"]["alert_code"]) == (1, 3)


def test_the_documented_stale_jobs_query(
    conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    """doc/monitoring.md's example: names whose last good end is over 26 hours old."""
    run(conn, "fresh", "2 hours", "1 minute")
    run(conn, "stale", "30 hours", "1 minute")
    run(conn, "stale", "3 hours", "1 minute", fail_level=3)
    run(conn, "broken", "1 hour", "1 minute", fail_level=2)
    configure(conn, "NEVER RAN")
    query = marked_block(MONITORING, "sql", "stale-jobs")
    rows = monitor.execute(query).fetchall()
    assert [(name, status, failure) for name, _, status, failure, _ in rows] == [
        ("BROKEN", "WARNING", "WARNING"),
        ("NEVER RAN", None, None),
        ("STALE", "CRITICAL", "CRITICAL"),
    ]


def test_select_on_the_view_is_all_a_reader_needs(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The view reads the tables with its owner's rights: a dashboard role needs no grant
    on them, and a role without SELECT on the view is refused."""
    finished_job(conn, "watched", fail_level=3)
    conn.execute("CREATE ROLE dashboard LOGIN")
    conn.execute("CREATE ROLE outsider LOGIN")
    try:
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO dashboard, outsider")
        conn.execute(f"GRANT SELECT ON {SCHEMA}.job_summary TO dashboard")
        with cluster.connect(db) as worker:
            add_job(worker, "watched")
            with cluster.connect(db, user="dashboard") as dashboard:
                assert summary(dashboard) == summary(conn)
                assert summary(dashboard)["WATCHED"]["running"] == 1
                refusal(
                    dashboard,
                    f"SELECT * FROM {SCHEMA}.job_log",
                    psycopg.errors.InsufficientPrivilege,
                )
        with cluster.connect(db, user="outsider") as outsider:
            refusal(
                outsider,
                f"SELECT * FROM {SCHEMA}.job_summary",
                psycopg.errors.InsufficientPrivilege,
            )
    finally:
        for role in ("dashboard", "outsider"):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


# A year of history for the big-log test: RUNS_PER_NAME runs of each of NAMES names, one
# every 8 h 45 min, the latest some hours ago. Every tenth name never failed, the next
# one never succeeded (and has an alert row for each of its failures); the others fail now
# and then, at WARNING, CRITICAL or ESCALATED.
NAMES = 1000
RUNS_PER_NAME = 1000
BIG_LOG = f"""
INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)
SELECT 'history', 'JOB ' || n, r.start_time, r.start_time + r.took, r.status, 0
FROM generate_series(1, {RUNS_PER_NAME}) AS k,
    generate_series(0, {NAMES - 1}) AS n,
    LATERAL (
        SELECT now() - interval '1 year' + k * interval '8 hours 45 minutes'
                   + n * interval '1 second' AS start_time,
               make_interval(secs => 1 + (k * 7919 + n * 104729) % 600) AS took,
               CASE WHEN n % 10 = 0 THEN 'OK'
                    WHEN n % 10 = 1 THEN CASE WHEN k % 3 = 0 THEN 'WARNING' ELSE 'CRITICAL' END
                    WHEN k % 997 = 0 THEN 'ESCALATED'
                    WHEN k % 37 = 0 THEN 'CRITICAL'
                    WHEN k % 41 = 0 THEN 'WARNING'
                    ELSE 'OK'
               END AS status
    ) AS r
"""
NEVER_SUCCEEDED_ALERTS = f"""
INSERT INTO {SCHEMA}.job_check_log (job_id, job_name, alert_code)
SELECT j.job_id, j.job_name, CASE j.status WHEN 'WARNING' THEN 2 ELSE 3 END
FROM {SCHEMA}.job_log AS j
WHERE j.job_name IN (SELECT 'JOB ' || n FROM generate_series(1, {NAMES - 1}, 10) AS n)
"""
# Jobs not ended of ten other names, whose sessions are gone.
DEAD_RUNS = f"""
INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)
SELECT 'history', 'JOB ' || (n * 10 + 2), now() - interval '1 hour', 0
FROM generate_series(0, 9) AS n
"""


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``node`` of an EXPLAIN (FORMAT JSON) plan and every node under it."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def plan(conn: psycopg.Connection, options: str) -> dict[str, Any]:
    document = scalar(conn, f"EXPLAIN ({options}, FORMAT JSON) SELECT * FROM {SCHEMA}.job_summary")
    top: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]
    return top


def timed_command(cluster: Cluster, db: str, command: str) -> tuple[float, str]:
    """The median wall time of three runs of `pg_jobmon command` (process start included),
    and its output; printed for the record."""
    timings, output = [], ""
    for _ in range(3):
        started = time.perf_counter()
        done = run_command(command, environment=command_environment(cluster, db))
        timings.append(time.perf_counter() - started)
        output = done.stdout
    median = statistics.median(timings)
    print(f"pg_jobmon {command}: median {median * 1000:.0f} ms of {len(timings)} runs")
    return median, output


@pytest.mark.slow
def test_a_million_runs_are_summed_up_by_index_probes(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute(BIG_LOG)
    conn.execute(NEVER_SUCCEEDED_ALERTS)
    conn.execute(DEAD_RUNS)
    configure(conn, "NEVER RAN")
    with cluster.connect(db) as worker:
        add_job(worker, "job 5")  # running
        for table in ("job_log", "job_check_log"):
            conn.execute(f"VACUUM ANALYZE {SCHEMA}.{table}")

        shown = "\n".join(
            row[0] for row in conn.execute(f"EXPLAIN SELECT * FROM {SCHEMA}.job_summary")
        )
        print(f"\nPlan of job_summary on {NAMES * RUNS_PER_NAME} runs of {NAMES} names:\n{shown}")
        scans = [
            (node["Node Type"], node.get("Relation Name"))
            for node in plan_nodes(plan(conn, "COSTS")["Plan"])
        ]
        assert ("Seq Scan", "job_log") not in scans
        assert ("Seq Scan", "job_detail") not in scans
        # Nothing reads through a name's runs: a few dozen buffers a name, where reading
        # back through the thousand runs of a name that never failed would take hundreds.
        analyzed = plan(conn, "ANALYZE, BUFFERS")
        executed, executed_time = analyzed["Plan"], analyzed["Execution Time"]
        buffers = executed["Shared Hit Blocks"] + executed["Shared Read Blocks"]
        assert buffers < 60 * NAMES, buffers

        # The query's time as a client waits for it, all rows received; turning them into
        # Python objects is the client's business and left out.
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(f"SELECT * FROM {SCHEMA}.job_summary")
            timings.append(time.perf_counter() - started)
        median = statistics.median(timings)
        print(
            f"job_summary: median {median * 1000:.1f} ms of {len(timings)} runs"
            f" (server's execution time {executed_time:.1f} ms, {buffers / NAMES:.0f} buffers"
            " a name)"
        )
        rows = summary(conn)
        commands = {name: timed_command(cluster, db, name) for name in ("metrics", "check")}

    assert len(rows) == NAMES + 1
    metrics_output = commands["metrics"][1]
    # A last start for every name that ran, as the view gives it.
    last_starts = [
        line
        for line in metrics_output.splitlines()
        if line.startswith("pg_jobmon_job_last_start_timestamp_seconds{")
    ]
    assert len(last_starts) == NAMES
    # JOB 11 never succeeded: check reports its failures, CRITICAL.
    assert commands["check"][1].startswith("PG_JOBMON CRITICAL - ")
    assert rows["NEVER RAN"] == no_runs(job_name="NEVER RAN")
    never_failed, never_succeeded = rows["JOB 10"], rows["JOB 11"]
    assert never_failed["last_failure"] is None and never_failed["last_success"] is not None
    assert never_succeeded["last_success"] is None and never_succeeded["alert_code"] == 3
    assert (rows["JOB 5"]["running"], rows["JOB 12"]["running"]) == (1, 0)
    assert all(row["runs"] <= 4 for row in rows.values())
    # A bound far above the measured figure, to catch a plan gone wrong, not a slow machine.
    assert median < 2.0
