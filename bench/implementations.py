"""The 1-client log call with each psycopg implementation the server's Python has.

The cluster is restarted with PSYCOPG_IMPL in the server's environment for each
implementation measured here, so that every backend imports psycopg anew with it, and
started again as it was afterwards. Which implementation pg_jobmon really used is read
in a session that made a log call, from the psycopg module it imported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bench import workloads
from bench.cluster import SCHEMA, BenchCluster
from bench.workloads import Pair

# The implementations compared: psycopg_c (compiled) and the pure Python one that
# Debian's python3-psycopg ships alone.
C, PYTHON = "c", "python"


@dataclass(frozen=True)
class Implementation:
    """The 1-client figures of one psycopg implementation, by synchronous_commit."""

    name: str  # psycopg.pq.__impl__: c, binary, python
    reported: str  # bench.psycopg_in_server() in a session that logged
    one_client: dict[str, Pair]


def in_use(cluster: BenchCluster) -> tuple[str, str]:
    """The implementation pg_jobmon imports in a new session: (name, description)."""
    with cluster.connect() as conn:
        conn.execute(f"SELECT {SCHEMA}.close_job({SCHEMA}.add_job('bench implementation'))")
        row = conn.execute("SELECT bench.psycopg_impl(), bench.psycopg_in_server()").fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def c_installed(cluster: BenchCluster) -> bool:
    return bool(cluster.scalar("SELECT bench.psycopg_c_installed()"))


def others(measured: str, c_is_installed: bool) -> list[str]:
    """The implementations still to measure once ``measured`` is."""
    wanted = [C, PYTHON] if c_is_installed else [PYTHON]
    return [name for name in wanted if name != measured]


def measure(
    cluster: BenchCluster, name: str, seconds: float, rounds: int, settings: tuple[str, ...]
) -> Implementation:
    """The 1-client pairs on the cluster restarted with implementation ``name``; the
    cluster is restarted as it was afterwards."""
    cluster.restart(name)
    try:
        used, reported = in_use(cluster)
        if used != name:
            raise RuntimeError(f"PSYCOPG_IMPL={name}, yet the backends used {reported}")
        pairs = one_client_pairs(cluster, seconds, rounds, settings, name)
        return Implementation(name, reported, pairs)
    finally:
        cluster.restart(cluster.psycopg_impl)


def one_client_pairs(
    cluster: BenchCluster, seconds: float, rounds: int, settings: tuple[str, ...], name: str
) -> dict[str, Pair]:
    """The floor and pg_jobmon's waiting loop side by side, 1 client, per setting."""
    pairs: dict[str, Pair] = {}
    for setting in settings:
        floor, jobmon = workloads.alternate(
            [
                functools.partial(workloads.floor, cluster, 1, seconds, setting),
                functools.partial(workloads.jobmon, cluster, 1, seconds, setting),
            ],
            rounds,
        )
        pairs[setting] = Pair(floor, jobmon)
        print(
            f" 1 client, psycopg {name}, synchronous_commit {setting}:"
            f" floor {floor.microseconds_per_call:.0f} µs/call,"
            f" pg_jobmon {jobmon.microseconds_per_call:.0f} µs/call"
            f" ({pairs[setting].latency_ratio:.2f}x)",
            flush=True,
        )
    return pairs
