"""The figures of the reference's Operations section, measured on a throwaway cluster.

Run as the user that owns the cluster: ``python -m bench.operations [--sessions N]``.
Prints, for psycopg's pure Python implementation (Debian's python3-psycopg alone) and for
its C implementation: the first log call of a session, the memory a logging session
adds, and what a log call costs when its connection was closed by pg_jobmon.idle_timeout
and must be reopened, against the same call on an open connection.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

from bench import first_call, footprint
from bench.cluster import SCHEMA, BenchCluster, bench_cluster

MIB = 1024 * 1024


def reopen(cluster: BenchCluster, rounds: int) -> tuple[float, float]:
    """Median seconds of add_step on an open connection, and after an idle close."""
    kept: list[float] = []
    reopened: list[float] = []
    with cluster.connect() as conn:
        conn.execute("SET pg_jobmon.idle_timeout = '1s'")
        row = conn.execute(f"SELECT {SCHEMA}.add_job('bench reopen')").fetchone()
        assert row is not None
        step = f"SELECT {SCHEMA}.add_step({int(row[0])}, 'step')"
        for _ in range(rounds):
            kept.append(_timed(conn, step))
            time.sleep(1.5)  # the server closes the idle logging connection after 1 s
            reopened.append(_timed(conn, step))
    return statistics.median(kept), statistics.median(reopened)


def _timed(conn: psycopg.Connection, query: str) -> float:
    """Seconds ``query`` took, as its client saw them."""
    started = time.perf_counter()
    conn.execute(query)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=15)
    options = parser.parse_args()
    for implementation in ("python", "c"):
        with bench_cluster(implementation) as cluster:
            first = first_call.measure(cluster, options.sessions)
            memory = footprint.session_memory(cluster)
            kept, reopened = reopen(cluster, options.sessions)
        print(f"psycopg implementation: {implementation}")
        print(
            f"  first log call: {first.cold_total * 1000:.0f} ms"
            f" (PL/Python {first.plpython_start * 1000:.0f}, import psycopg"
            f" {first.psycopg_import * 1000:.0f}, connect {first.connect * 1000:.1f},"
            f" pg_jobmon {first.own * 1000:.1f}); median of {first.sessions} sessions"
        )
        print(
            f"  memory per logging session: {memory.added / MIB:.1f} MiB"
            f" (caller +{(memory.caller_after - memory.caller_before) / MIB:.1f},"
            f" logging backend {memory.logger / MIB:.1f})"
        )
        print(
            f"  add_step on an open connection {kept * 1000:.2f} ms,"
            f" after an idle close {reopened * 1000:.2f} ms"
            f" (reopen: {(reopened - kept) * 1000:.2f} ms)"
        )


if __name__ == "__main__":
    main()
