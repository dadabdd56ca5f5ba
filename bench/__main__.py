"""make bench: pg_jobmon's log calls against the floor of the round trips they cannot avoid.

Run as the user that owns the throwaway cluster: ``python -m bench --output-dir DIR``.
Prints the figures, writes DIR/RESULTS.md and DIR/results.png, and exits 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

from bench import first_call, footprint, report, retention, workloads
from bench.cluster import BenchCluster, bench_cluster
from bench.workloads import Throughput

SYNCHRONOUS_COMMIT = ("on", "off")


def main() -> int:
    options = _arguments()
    with bench_cluster(options.psycopg_impl) as cluster:
        findings = measure(cluster, options)
    print(report.summary(findings))
    options.output_dir.mkdir(parents=True, exist_ok=True)
    report.write(findings, options.output_dir, "make bench")
    missed = [target.name for target in report.targets(findings) if not target.met]
    for name in missed:
        print(f"target missed: {name}", file=sys.stderr)
    return 1 if missed else 0


def measure(cluster: BenchCluster, options: argparse.Namespace) -> report.Findings:
    seconds, rounds = options.seconds, options.rounds
    one_client: dict[str, report.Pair] = {}
    sixteen_clients: dict[str, report.Pair] = {}
    for setting in SYNCHRONOUS_COMMIT:
        for clients, pairs in ((1, one_client), (16, sixteen_clients)):
            pairs[setting] = _side_by_side(
                functools.partial(workloads.floor, cluster, clients, seconds, setting),
                functools.partial(workloads.jobmon, cluster, clients, seconds, setting),
                rounds,
            )
            pair = pairs[setting]
            print(
                f"{clients:2} client(s), synchronous_commit {setting}:"
                f" floor {pair.floor.microseconds_per_call:.0f} µs/call"
                f" ({pair.floor.calls_per_second:,.0f}/s),"
                f" pg_jobmon {pair.jobmon.microseconds_per_call:.0f} µs/call"
                f" ({pair.jobmon.calls_per_second:,.0f}/s)",
                flush=True,
            )
    return report.Findings(
        environment=_environment(cluster),
        one_client=one_client,
        sixteen_clients=sixteen_clients,
        first_call=first_call.measure(cluster, options.sessions),
        read_only_stays_light=first_call.read_only_calls_stay_light(cluster),
        memory=footprint.session_memory(cluster),
        samples=footprint.growth(cluster, options.calls, samples=10),
        retention=retention.measure(cluster, options.retention_backlog),
    )


def _side_by_side(
    floor: Callable[[], Throughput], jobmon: Callable[[], Throughput], rounds: int
) -> report.Pair:
    """Alternate the two, so that a slow spell of the machine hits both alike."""
    floors: list[Throughput] = []
    jobmons: list[Throughput] = []
    for _ in range(rounds):
        floors.append(floor())
        jobmons.append(jobmon())
    return report.Pair(_median(floors), _median(jobmons))


def _median(runs: list[Throughput]) -> Throughput:
    """The run of median speed (the lower of the two middle ones for an even count)."""
    ranked = sorted(runs, key=lambda run: run.calls_per_second)
    return ranked[(len(ranked) - 1) // 2]


def _environment(cluster: BenchCluster) -> dict[str, str]:
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{cpu}, {os.cpu_count()} cores, {memory_kib / 1024 / 1024:.0f} GiB,"
        f" {platform.system()} {platform.release()}",
        "PostgreSQL": str(cluster.scalar("SELECT version()")),
        "server's Python": str(cluster.scalar("SELECT bench.python_in_server()")),
        "psycopg in the server": str(cluster.scalar("SELECT bench.psycopg_in_server()")),
        "settings": "fsync on, shared_buffers 256MB, log_statement none; the rest initdb's",
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=4, help="length of each timed run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each")
    parser.add_argument("--sessions", type=int, default=15, help="fresh sessions timed")
    parser.add_argument("--calls", type=int, default=100_000, help="calls in one session")
    parser.add_argument(
        "--retention-backlog", type=int, default=1_000_000, help="expired runs to drain"
    )
    parser.add_argument(
        "--psycopg-impl",
        choices=["python", "c", "binary"],
        help="psycopg implementation for the server's Python (default: the best installed)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
