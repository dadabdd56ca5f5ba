"""The two workloads compared: pgbench's floor and pg_jobmon's log calls.

Both make, for every step, the INSERT into job_detail and the UPDATE of it that
add_step() and update_step() make, each committed on its own. The floor issues them
from pgbench (a C client, prepared statements, autocommit); pg_jobmon from a PL/pgSQL
loop inside one statement, so each log call is one autonomous write of its own. After
each pg_jobmon run, every step it logged must be in job_detail, ended.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from bench.cluster import SCHEMA, BenchCluster

LoopResult = tuple[int, datetime, datetime, int]

FLOOR_SCRIPT = Path(__file__).with_name("floor.sql")


@dataclass(frozen=True)
class Throughput:
    """Log calls (single-statement autonomous writes) made in a span of time."""

    calls: int
    seconds: float

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def microseconds_per_call(self) -> float:
        return self.seconds / self.calls * 1e6


@dataclass(frozen=True)
class Pair:
    """The floor and pg_jobmon, measured side by side under one commit setting."""

    floor: Throughput
    jobmon: Throughput

    @property
    def latency_ratio(self) -> float:
        return self.jobmon.microseconds_per_call / self.floor.microseconds_per_call

    @property
    def throughput_ratio(self) -> float:
        return self.jobmon.calls_per_second / self.floor.calls_per_second


class MissingRows(RuntimeError):
    """A log call's row is missing or not ended after its job's close_job returned."""


def alternate(runs: list[Callable[[], Throughput]], rounds: int) -> list[Throughput]:
    """Each of ``runs`` ``rounds`` times, in turn, so that a slow spell of the machine hits
    all alike; the median run of each."""
    measured: list[list[Throughput]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, results in zip(runs, measured):
            results.append(run())
    return [median(results) for results in measured]


def median(runs: list[Throughput]) -> Throughput:
    """The run of median speed (the lower of the two middle ones for an even count)."""
    ranked = sorted(runs, key=lambda run: run.calls_per_second)
    return ranked[(len(ranked) - 1) // 2]


def floor(
    cluster: BenchCluster,
    clients: int,
    seconds: float,
    synchronous_commit: str,
    threads: int | None = None,
) -> Throughput:
    """pgbench running the log calls' two statements, one job per client.

    By default each client has a thread of its own, as each job has its own session.
    """
    first_job = _jobs_for_clients(cluster, clients)
    environment = dict(os.environ, PGOPTIONS=f"-c synchronous_commit={synchronous_commit}")
    command = [
        str(cluster.bindir / "pgbench"),
        *("-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", "postgres"),
        *("-n", "-M", "prepared", "-c", str(clients), "-j", str(threads or clients)),
        *("-T", f"{seconds:g}", "-D", f"first_job={first_job}", "-f", str(FLOOR_SCRIPT)),
        cluster.dbname,
    ]
    output = subprocess.run(
        command, env=environment, capture_output=True, text=True, check=True
    ).stdout
    transactions = int(_pgbench_figure(output, r"number of transactions actually processed: (\d+)"))
    tps = _pgbench_figure(output, r"tps = ([\d.]+) \(without initial connection time\)")
    # One pgbench transaction is one step: two statements, each committed on its own.
    return Throughput(calls=2 * transactions, seconds=transactions / tps)


def jobmon(
    cluster: BenchCluster,
    sessions: int,
    seconds: float,
    synchronous_commit: str,
    wait_for_writes: str = "on",
) -> Throughput:
    """``sessions`` concurrent PL/pgSQL loops of log calls: calls over the wall time.

    ``wait_for_writes``: pg_jobmon.wait_for_writes in each session (off: the log calls
    return once their write is sent; close_job waits for them all).
    """
    connections = [cluster.connect() for _ in range(sessions)]
    try:
        for conn in connections:
            configure(conn, synchronous_commit, wait_for_writes)
            # The session's first call opens its logging connection: not timed here.
            conn.execute(f"SELECT {SCHEMA}.close_job({SCHEMA}.add_job('bench warm-up'))")
        results = _run_together(connections, seconds)
        for calls, _, _, job in results:
            require_rows(connections[0], job, calls // 2)
    finally:
        for conn in connections:
            conn.close()
    calls = sum(calls for calls, _, _, _ in results)
    started = min(start for _, start, _, _ in results)
    finished = max(end for _, _, end, _ in results)
    return Throughput(calls=calls, seconds=(finished - started).total_seconds())


def configure(conn: psycopg.Connection, synchronous_commit: str, wait_for_writes: str) -> None:
    """pg_jobmon's settings for the session's log calls."""
    for name, value in (
        ("pg_jobmon.synchronous_commit", synchronous_commit),
        ("pg_jobmon.wait_for_writes", wait_for_writes),
    ):
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def require_rows(conn: psycopg.Connection, job: int, steps: int) -> None:
    """Raise MissingRows unless job ``job`` is ended with ``steps`` steps, each ended.

    Called once the job's close_job has returned: whatever its log calls left pending
    must be written by then.
    """
    row = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE d.end_time IS NOT NULL"
        f" AND d.status IS NOT NULL),"
        f" (SELECT j.end_time IS NOT NULL AND j.status IS NOT NULL"
        f" FROM {SCHEMA}.job_log AS j WHERE j.job_id = %(job)s)"
        f" FROM {SCHEMA}.job_detail AS d WHERE d.job_id = %(job)s",
        {"job": job},
    ).fetchone()
    assert row is not None
    present, ended, job_ended = int(row[0]), int(row[1]), bool(row[2])
    if present != steps or ended != steps or not job_ended:
        raise MissingRows(
            f"job {job}: {steps} steps logged, {present} in job_detail, {ended} of them"
            f" ended; the job {'is' if job_ended else 'is not'} ended in job_log"
        )


def _run_together(connections: list[psycopg.Connection], seconds: float) -> list[LoopResult]:
    """Start the loops at once, one thread per session; each session's (calls, start, end)."""
    barrier = threading.Barrier(len(connections))
    results: list[LoopResult | None] = [None] * len(connections)
    errors: list[BaseException] = []

    def run(index: int, conn: psycopg.Connection) -> None:
        try:
            barrier.wait()
            row = conn.execute("SELECT * FROM bench.log_steps(%s)", (seconds,)).fetchone()
            assert row is not None
            results[index] = (int(row[0]), row[1], row[2], int(row[3]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [result for result in results if result is not None]


def _jobs_for_clients(cluster: BenchCluster, clients: int) -> int:
    """Consecutive jobs, one per pgbench client (client i logs into job first + i)."""
    with cluster.connect() as conn:
        ids = [
            int(row[0])
            for row in conn.execute(
                f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
                " SELECT 'postgres', 'BENCH FLOOR', now(), 0 FROM generate_series(1, %s)"
                " RETURNING job_id",
                (clients,),
            )
        ]
    if sorted(ids) != list(range(min(ids), min(ids) + clients)):
        raise RuntimeError("the floor's jobs did not get consecutive ids")
    return min(ids)


def _pgbench_figure(output: str, pattern: str) -> float:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"pgbench printed no {pattern!r}:\n{output}")
    return float(match.group(1))
