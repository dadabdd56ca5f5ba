"""close_job with and without retention, over a backlog of a million expired runs.

The same job name gets a backlog of expired runs (a year old, two steps each, written
directly as old history would be). First, with no job_retention row, close_job is timed
as it is for every user without retention; then a '*' row makes the backlog expired,
and close_job is timed call after call until the backlog is gone. Each close_job is
timed by the server's clock, alone (its add_job is not counted), in one session.

Run alone, as a user that may start PostgreSQL (the cluster is made from the pg_config
found first on PATH, or PG_CONFIG):  python -m bench.retention [--backlog N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import psycopg

from bench.cluster import SCHEMA, BenchCluster, bench_cluster

JOB_NAME = "BENCH RETENTION"
STEPS_PER_RUN = 2
# Without retention: the calls timed (the figure settles well before this).
CALLS_WITHOUT = 2000
# The closes timed in one server round trip, so that the client's own time is not counted.
CHUNK = 500
# Fresh sessions timed, each closing one job (most jobs run in a session of their own).
FRESH_SESSIONS = 20

# One close_job after another, each of a new run, each timed alone (milliseconds), and
# whether any run of the backlog is left after it (looked at outside the timed part).
TIMED_CLOSES = f"""
CREATE OR REPLACE FUNCTION pg_temp.timed_closes(
    p_calls integer, OUT milliseconds float8, OUT backlog_left boolean
)
    RETURNS SETOF record
    LANGUAGE plpgsql
AS $$
DECLARE
    v_job bigint;
    v_started timestamptz;
BEGIN
    FOR i IN 1 .. p_calls LOOP
        v_job := {SCHEMA}.add_job('{JOB_NAME}');
        v_started := clock_timestamp();
        PERFORM {SCHEMA}.close_job(v_job);
        milliseconds := extract(epoch FROM clock_timestamp() - v_started) * 1000;
        backlog_left := EXISTS (
            SELECT FROM {SCHEMA}.job_log AS j
            WHERE j.job_name = '{JOB_NAME}' AND j.owner = 'history'
        );
        RETURN NEXT;
        EXIT WHEN NOT backlog_left;
    END LOOP;
END
$$
"""


@dataclass(frozen=True)
class Retention:
    """Milliseconds per close_job, without and with retention, and the drain."""

    backlog: int
    without: list[float]
    with_backlog: list[float]
    calls_to_drain: int
    fill_seconds: float
    fresh_without: list[float]
    fresh_with: list[float]

    @property
    def added_median(self) -> float:
        return statistics.median(self.with_backlog) - statistics.median(self.without)

    @property
    def added_p99(self) -> float:
        return _p99(self.with_backlog) - statistics.median(self.without)

    @property
    def added_max(self) -> float:
        return max(self.with_backlog) - statistics.median(self.without)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def fill_backlog(conn: psycopg.Connection, runs: int) -> None:
    """``runs`` runs of JOB_NAME that ended a year ago or more, with their steps."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
        " SELECT 'history', %s, t, t + interval '10 seconds', 'OK', 0"
        " FROM generate_series(1, %s) AS i,"
        " LATERAL (SELECT now() - interval '1 year' - i * interval '30 seconds') AS s(t)"
        " ORDER BY i DESC",
        (JOB_NAME, runs),
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_detail (job_id, action, start_time, end_time, status)"
        " SELECT j.job_id, 'step ' || s, j.start_time, j.end_time, 'OK'"
        f" FROM {SCHEMA}.job_log AS j, generate_series(1, %s) AS s"
        " WHERE j.job_name = %s",
        (STEPS_PER_RUN, JOB_NAME),
    )
    conn.execute(f"VACUUM ANALYZE {SCHEMA}.job_log, {SCHEMA}.job_detail")


def _closes(conn: psycopg.Connection, calls: int) -> list[tuple[float, bool]]:
    rows = conn.execute("SELECT * FROM pg_temp.timed_closes(%s)", (calls,)).fetchall()
    return [(float(milliseconds), bool(left)) for milliseconds, left in rows]


def _fresh_close(cluster: BenchCluster) -> float:
    """Milliseconds of the close_job of a fresh session (its logging connection opened
    by its add_job, not timed)."""
    with cluster.connect() as conn:
        row = conn.execute(f"SELECT {SCHEMA}.add_job(%s)", (JOB_NAME,)).fetchone()
        assert row is not None
        started = time.perf_counter()
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (row[0],))
        return (time.perf_counter() - started) * 1000


def measure(cluster: BenchCluster, backlog: int = 1_000_000) -> Retention:
    with cluster.connect() as conn:
        started = time.perf_counter()
        fill_backlog(conn, backlog)
        fill_seconds = time.perf_counter() - started
        conn.execute(TIMED_CLOSES)
        _closes(conn, 50)  # the session's logging connection is open and warm
        without = [milliseconds for milliseconds, _ in _closes(conn, CALLS_WITHOUT)]
        fresh_without = [_fresh_close(cluster) for _ in range(FRESH_SESSIONS)]
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_retention (job_name, keep_succeeded, keep_failed)"
            " VALUES ('*', '30 days', '1 year')"
        )
        fresh_with = [_fresh_close(cluster) for _ in range(FRESH_SESSIONS)]
        with_backlog: list[float] = []
        while True:
            chunk = _closes(conn, CHUNK)
            with_backlog += [milliseconds for milliseconds, _ in chunk]
            if not chunk[-1][1]:
                break
            if len(with_backlog) > backlog:
                raise RuntimeError("the backlog does not drain")
    calls = len(with_backlog) + FRESH_SESSIONS
    return Retention(backlog, without, with_backlog, calls, fill_seconds, fresh_without, fresh_with)


def summary(result: Retention) -> str:
    """The side-by-side table, as printed and as RESULTS.md shows it."""
    rows = [("without retention (no job_retention row)", result.without)]
    rows.append(("with retention, until the backlog is gone", result.with_backlog))
    lines = [
        f"close_job, ms per call, {result.backlog:,} expired runs of one job name waiting"
        f" ({STEPS_PER_RUN} steps each):",
        "",
        "| | calls | median | 99th percentile | max |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {len(values):,} | {statistics.median(values):.2f}"
        f" | {_p99(values):.2f} | {max(values):.2f} |"
        for label, values in rows
    ]
    lines += [
        f"| added by retention | | {result.added_median:.2f} | {result.added_p99:.2f}"
        f" | {result.added_max:.2f} |",
        "",
        f"The close_job of a fresh session (median of {FRESH_SESSIONS}, its first retention"
        " call included): without retention"
        f" {statistics.median(result.fresh_without):.2f} ms, with the backlog"
        f" {statistics.median(result.fresh_with):.2f} ms"
        f" (max {max(result.fresh_with):.2f} ms).",
        "",
        f"The backlog drained in {result.calls_to_drain:,} close_job calls.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__)
    parser.add_argument("--backlog", type=int, default=1_000_000, help="expired runs")
    options = parser.parse_args()
    with bench_cluster(None) as cluster:
        result = measure(cluster, options.backlog)
    print(f"(backlog written in {result.fill_seconds:.0f} s)")
    print(summary(result))


if __name__ == "__main__":
    main()
