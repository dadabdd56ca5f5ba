"""The first log call of a session, split into the parts it is made of.

A session's first add_job() starts PL/Python, imports psycopg, opens the logging
connection and then does pg_jobmon's own work (loading its modules, reading its
configuration, preparing its statements). Each fresh session here times those parts
one after the other; pg_jobmon's own part is what is left of the first call once the
connect, timed the same way in the same session, is taken out.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo

from bench.cluster import SCHEMA, BenchCluster
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


@dataclass(frozen=True)
class FirstCall:
    """Medians over fresh sessions, in seconds."""

    plpython_start: float
    psycopg_import: float
    connect: float
    own: float
    cold_total: float
    sessions: int


def measure(cluster: BenchCluster, sessions: int) -> FirstCall:
    """Time the parts of the first call in ``sessions`` fresh sessions (and as a whole)."""
    conninfo = make_conninfo(host=str(cluster.socket_dir), port=cluster.port, dbname=cluster.dbname)
    parts: list[tuple[float, float, float, float]] = []
    totals: list[float] = []
    for _ in range(sessions):
        with cluster.connect() as conn:
            plpython = _timed(conn, "DO LANGUAGE plpython3u 'pass'")
            imported = _scalar(conn, "SELECT bench.import_psycopg()")
            first_call = _timed(conn, f"SELECT {SCHEMA}.add_job('bench first call')")
            connect = _scalar(conn, "SELECT bench.connect(%s)", (conninfo,))
            parts.append((plpython, imported, connect, first_call - connect))
            _end_jobs(conn)
        with cluster.connect() as conn:
            totals.append(_timed(conn, f"SELECT {SCHEMA}.add_job('bench first call')"))
            _end_jobs(conn)
    plpython, imported, connect, own = (statistics.median(part) for part in zip(*parts))
    return FirstCall(
        plpython_start=plpython,
        psycopg_import=imported,
        connect=connect,
        own=own,
        cold_total=statistics.median(totals),
        sessions=sessions,
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
    started = time.perf_counter()
    conn.execute("SELECT")
    round_trip = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute(query)
    return time.perf_counter() - started - round_trip


def _scalar(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> float:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return float(row[0])
