"""make bench: pg_jobmon's log calls against the floor of the round trips they cannot avoid.

Run as the user that owns the throwaway cluster: ``python -m bench --output-dir DIR``.
Prints the figures, writes DIR/RESULTS.md and DIR/results.png, and exits 1 if a target
is missed or a log call's row is missing once its job's close_job returned.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import sys
from pathlib import Path

from bench import first_call, footprint, implementations, report, retention, working_job, workloads
from bench.cluster import BenchCluster, bench_cluster
from bench.workloads import Pair, Throughput

SYNCHRONOUS_COMMIT = ("on", "off")


def main() -> int:
    options = _arguments()
    try:
        with bench_cluster(options.psycopg_impl) as cluster:
            findings = measure(cluster, options)
    except workloads.MissingRows as error:
        print(f"bench failed: log calls' rows missing after close_job: {error}", file=sys.stderr)
        return 1
    print(report.summary(findings))
    options.output_dir.mkdir(parents=True, exist_ok=True)
    report.write(findings, options.output_dir, "make bench")
    missed = [target.name for target in report.targets(findings) if not target.met]
    for name in missed:
        print(f"target missed: {name}", file=sys.stderr)
    return 1 if missed else 0


def measure(cluster: BenchCluster, options: argparse.Namespace) -> report.Findings:
    seconds, rounds = options.seconds, options.rounds
    one_client: dict[str, Pair] = {}
    sixteen_clients: dict[str, Pair] = {}
    no_wait: dict[str, Throughput] = {}
    for setting in SYNCHRONOUS_COMMIT:
        # 1 client: the floor, the log calls, and the log calls that do not wait, in turn.
        floor, waiting, not_waiting = workloads.alternate(
            [
                functools.partial(workloads.floor, cluster, 1, seconds, setting),
                functools.partial(workloads.jobmon, cluster, 1, seconds, setting),
                functools.partial(workloads.jobmon, cluster, 1, seconds, setting, "off"),
            ],
            rounds,
        )
        one_client[setting] = Pair(floor, waiting)
        no_wait[setting] = not_waiting
        _print_pair(1, setting, one_client[setting])
        print(
            f"           wait_for_writes off: {not_waiting.microseconds_per_call:.0f} µs/call"
            f" ({not_waiting.microseconds_per_call / floor.microseconds_per_call:.2f}x)",
            flush=True,
        )
        sixteen_clients[setting] = Pair(
            *workloads.alternate(
                [
                    functools.partial(workloads.floor, cluster, 16, seconds, setting),
                    functools.partial(workloads.jobmon, cluster, 16, seconds, setting),
                ],
                rounds,
            )
        )
        _print_pair(16, setting, sixteen_clients[setting])
    measured_implementations = _implementations(cluster, one_client, seconds, rounds)
    working = _working_job(cluster, options)
    backlog = footprint.backlog(cluster, seconds)
    print(
        f"caller's memory along {backlog.calls:,} calls that do not wait:"
        f" {backlog.growth / 1024:+.0f} KiB at most",
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
        c_installed=implementations.c_installed(cluster),
        implementations=measured_implementations,
        no_wait=no_wait,
        working_job=working,
        backlog=backlog,
    )


def _print_pair(clients: int, setting: str, pair: Pair) -> None:
    print(
        f"{clients:2} client(s), synchronous_commit {setting}:"
        f" floor {pair.floor.microseconds_per_call:.0f} µs/call"
        f" ({pair.floor.calls_per_second:,.0f}/s),"
        f" pg_jobmon {pair.jobmon.microseconds_per_call:.0f} µs/call"
        f" ({pair.jobmon.calls_per_second:,.0f}/s)",
        flush=True,
    )


def _implementations(
    cluster: BenchCluster, one_client: dict[str, Pair], seconds: float, rounds: int
) -> list[implementations.Implementation]:
    """The 1-client figures already measured, with the implementation the cluster runs,
    then those of psycopg's other implementations (C, pure Python) on a restarted one."""
    name, reported = implementations.in_use(cluster)
    print(f"psycopg in the server: {reported}", flush=True)
    measured = [implementations.Implementation(name, reported, one_client)]
    for other in implementations.others(name, implementations.c_installed(cluster)):
        measured.append(
            implementations.measure(cluster, other, seconds, rounds, SYNCHRONOUS_COMMIT)
        )
    return measured


def _working_job(cluster: BenchCluster, options: argparse.Namespace) -> working_job.WorkingJob:
    job = working_job.measure(
        cluster, options.work_microseconds / 1e6, options.work_steps, options.work_rounds, "on"
    )
    print(
        f"a job working {job.work_seconds * 1e6:.0f} µs between its log calls:"
        f" a call adds {job.added_per_call('on') * 1e6:.0f} µs (waiting),"
        f" {job.added_per_call('off') * 1e6:.0f} µs (wait_for_writes off)",
        flush=True,
    )
    return job


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
        "--work-steps", type=int, default=2000, help="steps of the job that works between calls"
    )
    parser.add_argument(
        "--work-rounds",
        type=int,
        default=5,
        help="alternating runs of that job (alone, waiting, not waiting): its figure is a"
        " small difference of two larger ones",
    )
    parser.add_argument(
        "--work-microseconds",
        type=float,
        default=500,
        help="CPU work before and after update_step in that job (calibrated)",
    )
    parser.add_argument(
        "--psycopg-impl",
        choices=["python", "c", "binary"],
        help="psycopg implementation for the server's Python (default: the best installed)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
