"""The delay from fail_job() returning to the `pg_jobmon watch` hook starting.

Run as the user that owns the throwaway cluster, with PG_CONFIG naming the server whose
bindir holds the installed command: ``python -m bench.watch_delay [--runs 100]``.
The hook writes the time it starts (`date +%s.%N`, so the figure includes starting the
shell and date: what any hook pays); the client notes the time fail_job() returned,
and the two are compared run by run. Failures are made one at a time, each once the
previous hook has run, so that no hook waits behind another.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import testgres

from bench.cluster import SCHEMA, BenchCluster, bench_cluster

READY = "listening on pg_jobmon_alert"


def measure(cluster: BenchCluster, runs: int) -> list[float]:
    """Seconds from each fail_job() returning to its hook starting."""
    with tempfile.TemporaryDirectory(prefix="watch-delay-") as scratch:
        stamps = Path(scratch) / "stamps"
        stamps.touch()
        watch = subprocess.Popen(
            [
                testgres.get_bin_path("pg_jobmon"),
                "watch",
                *("-h", str(cluster.socket_dir), "-p", str(cluster.port)),
                *("-d", cluster.dbname, "-U", "postgres"),
                "--exec",
                f"date +%s.%N >> {shlex.quote(str(stamps))}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watch.stderr is not None
            for line in watch.stderr:
                if READY in line:
                    break
            else:
                raise RuntimeError("pg_jobmon watch ended before it was ready")
            return _fail_jobs(cluster, stamps, runs)
        finally:
            watch.terminate()
            watch.wait(timeout=30)


def _fail_jobs(cluster: BenchCluster, stamps: Path, runs: int) -> list[float]:
    delays: list[float] = []
    with cluster.connect() as conn:
        for run in range(runs):
            row = conn.execute(f"SELECT {SCHEMA}.add_job('watch delay')").fetchone()
            assert row is not None
            conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (row[0],))
            returned = time.time()
            deadline = time.monotonic() + 10
            while True:
                lines = stamps.read_text().split()
                if len(lines) > run:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no hook ran for failure {run + 1} within 10 s")
                time.sleep(0.0005)
            delays.append(float(lines[run]) - returned)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    options = parser.parse_args()
    with bench_cluster(None) as cluster:
        delays = sorted(measure(cluster, options.runs))
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(
        f"fail_job() returned -> watch hook started, {len(delays)} failures"
        f" ({testgres.get_bin_path('pg_jobmon')}):"
    )
    print(
        f"  median {statistics.median(delays) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms,"
        f" min {delays[0] * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
