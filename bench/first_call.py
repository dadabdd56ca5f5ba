"""The first log call of a session, split into the parts it is made of, and 1.5.0's.

A session's first add_job() starts PL/Python, imports psycopg, opens the logging
connection and does pg_jobmon's own work (loading its modules, reading its
configuration, preparing its statements). pg_jobmon's own part is measured as issue 19
defines it, in fresh sessions whose PL/Python is already started (a DO block first):
the median first add_job() of such sessions, less the median of a plpython3u function
that imports psycopg and opens one libpq connection to the same database, each in a
session of its own, the two kinds alternating. Neither session has imported anything
before, so whatever pg_jobmon imports beyond psycopg counts as its own.

1.5.0 (tests/release_1_5_0, over dblink) is measured in the same run, on the same
cluster, for the break-even: its first call and its steady per-call cost.

On its own, as the user that owns the throwaway cluster:
``python -m bench.first_call [--sessions N] [--psycopg-impl python|c]`` prints the
first call's parts (and no break-even, which needs make bench's steady per-call cost).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from bench.cluster import SCHEMA, BenchCluster, bench_cluster
from plpython_src.names import logger_application_name

# The read-only calls that must never import psycopg nor open a logging connection.
READ_ONLY_CALLS = [
    f"SELECT * FROM {SCHEMA}.check_job_status()",
    f"SELECT * FROM {SCHEMA}.show_job('bench steps')",
    f"SELECT * FROM {SCHEMA}.show_job_like('bench')",
    f"SELECT * FROM {SCHEMA}.show_job_status('OK')",
    f"SELECT * FROM {SCHEMA}.show_detail(1)",
    f"SELECT * FROM {SCHEMA}.show_running()",
]
ADD_JOB = f"SELECT {SCHEMA}.add_job('bench first call')"
OLD_DBNAME = "bench_1_5_0"
# 1.5.0's steady cost: this many add_step + update_step pairs in one session (each
# call opens a dblink connection: some 5 ms each, so about a second in all).
OLD_PAIRS = 100


@dataclass(frozen=True)
class OldRelease:
    """1.5.0 on the same cluster, in seconds."""

    first_call: float  # add_job in a fresh session (median)
    per_call: float  # a log call in a session that has logged before


@dataclass(frozen=True)
class FirstCall:
    """Medians over fresh sessions, in seconds."""

    plpython_start: float
    psycopg_import: float
    connect: float
    import_and_connect: float  # the plpython3u function doing both, PL/Python started
    first_add_job: float  # add_job, PL/Python started
    own: float  # first_add_job - import_and_connect
    cold_total: float  # add_job in a session where nothing ran before
    sessions: int
    old: OldRelease


def measure(cluster: BenchCluster, sessions: int) -> FirstCall:
    """Time the parts of the first call in ``sessions`` fresh sessions of each kind."""
    conninfo = make_conninfo(host=str(cluster.socket_dir), port=cluster.port, dbname=cluster.dbname)
    starts: list[float] = []
    first_calls: list[float] = []
    floors: list[float] = []
    imports: list[float] = []
    connects: list[float] = []
    totals: list[float] = []
    for _ in range(sessions):
        with cluster.connect() as conn:
            starts.append(_timed(conn, "DO LANGUAGE plpython3u 'pass'"))
            first_calls.append(_timed(conn, ADD_JOB))
            _end_jobs(conn)
        with cluster.connect() as conn:
            conn.execute("DO LANGUAGE plpython3u 'pass'")
            round_trip = _round_trip(conn)
            started = time.perf_counter()
            row = conn.execute("SELECT bench.import_and_connect(%s)", (conninfo,)).fetchone()
            floors.append(time.perf_counter() - started - round_trip)
            assert row is not None
            imports.append(row[0][0])
            connects.append(row[0][1])
        with cluster.connect() as conn:
            totals.append(_timed(conn, ADD_JOB))
            _end_jobs(conn)
    median = statistics.median
    return FirstCall(
        plpython_start=median(starts),
        psycopg_import=median(imports),
        connect=median(connects),
        import_and_connect=median(floors),
        first_add_job=median(first_calls),
        own=median(first_calls) - median(floors),
        cold_total=median(totals),
        sessions=sessions,
        old=measure_1_5_0(cluster, sessions),
    )


def measure_1_5_0(cluster: BenchCluster, sessions: int) -> OldRelease:
    """1.5.0's first call and steady per-call cost, in a database of its own."""
    with cluster.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {OLD_DBNAME}")
        conn.execute(f"CREATE DATABASE {OLD_DBNAME}")
    with _connect_old(cluster) as conn:
        conn.execute("CREATE EXTENSION dblink")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE EXTENSION pg_jobmon VERSION '1.5.0' SCHEMA {SCHEMA}")
        conn.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES (%s, %s)",
            (str(cluster.socket_dir), str(cluster.port)),
        )
    first_calls = []
    for _ in range(sessions):
        with _connect_old(cluster) as conn:
            first_calls.append(_timed(conn, ADD_JOB))
            _end_jobs(conn)
    with _connect_old(cluster) as conn:
        job = _scalar(conn, ADD_JOB)
        started = time.perf_counter()
        conn.execute(
            f"SELECT {SCHEMA}.update_step({SCHEMA}.add_step(%s, 'bench step'), 'OK', 'done')"
            " FROM generate_series(1, %s)",
            (int(job), OLD_PAIRS),
        )
        per_call = (time.perf_counter() - started) / (2 * OLD_PAIRS)
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (int(job),))
    return OldRelease(statistics.median(first_calls), per_call)


def _connect_old(cluster: BenchCluster) -> psycopg.Connection:
    return psycopg.connect(
        host=str(cluster.socket_dir),
        port=cluster.port,
        dbname=OLD_DBNAME,
        user="postgres",
        autocommit=True,
    )


def _end_jobs(conn: psycopg.Connection) -> None:
    """End the session's job, untimed, as its last log call would. Left running, it would
    be a dead session's run for the next session's add_job to end: a cost of its own
    (doc/pg_jobmon.md, Jobs whose session ended), not of a first call."""
    conn.execute(
        f"SELECT {SCHEMA}.close_job(j.job_id) FROM {SCHEMA}.job_log AS j"
        " WHERE j.pid = pg_backend_pid() AND j.status IS NULL"
    )


def read_only_calls_stay_light(cluster: BenchCluster) -> bool:
    """Whether a session making only read-only calls neither imports psycopg nor logs."""
    with cluster.connect() as conn:
        pid = _scalar(conn, "SELECT pg_backend_pid()")
        for query in READ_ONLY_CALLS:
            conn.execute(query).fetchall()
        imported = bool(_scalar(conn, "SELECT bench.psycopg_imported()"))
        loggers = _scalar(
            conn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (logger_application_name(int(pid)),),
        )
    return not imported and loggers == 0


def _timed(conn: psycopg.Connection, query: str) -> float:
    """Seconds ``query`` took, less one empty round trip."""
    round_trip = _round_trip(conn)
    started = time.perf_counter()
    conn.execute(query)
    return time.perf_counter() - started - round_trip


def _round_trip(conn: psycopg.Connection) -> float:
    started = time.perf_counter()
    conn.execute("SELECT")
    return time.perf_counter() - started


def _scalar(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> float:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return float(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=15, help="fresh sessions of each kind")
    parser.add_argument("--psycopg-impl", choices=["python", "c", "binary"])
    options = parser.parse_args()
    with bench_cluster(options.psycopg_impl) as cluster:
        first = measure(cluster, options.sessions)
    own_parts = (first.first_add_job, first.import_and_connect, first.own)
    print(
        "first add_job {:.1f} ms, import psycopg + connect {:.1f} ms: own part {:.1f} ms".format(
            *(seconds * 1000 for seconds in own_parts)
        )
    )
    print(
        f"parts: PL/Python {first.plpython_start * 1000:.1f}, import psycopg"
        f" {first.psycopg_import * 1000:.1f}, connect {first.connect * 1000:.1f}; whole first"
        f" call {first.cold_total * 1000:.1f} ms; 1.5.0: first call"
        f" {first.old.first_call * 1000:.1f} ms, {first.old.per_call * 1000:.2f} ms a call"
        f" (median of {first.sessions} sessions of each kind)"
    )


if __name__ == "__main__":
    main()
