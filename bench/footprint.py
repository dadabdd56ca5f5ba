"""What a session's logging connection costs in memory, and that it does not grow.

Memory is read from /proc/<pid>/smaps_rollup of the backends (the benchmark runs as
the user that owns them): their anonymous memory, what malloc, Python and the stacks
take, which is what each session really adds. Shared buffers and the server's code are
left out: they are shared by all backends (though smaps counts a shared page as private
while a single process has touched it).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.cluster import SCHEMA, BenchCluster
from bench.workloads import configure, require_rows
from plpython_src.names import logger_application_name


@dataclass(frozen=True)
class SessionMemory:
    """Anonymous memory in bytes: the caller before and after its first log call."""

    caller_before: int
    caller_after: int
    logger: int
    plain_backend: int

    @property
    def added(self) -> int:
        """What logging adds to a session: its own growth and the logging backend."""
        return self.caller_after - self.caller_before + self.logger


@dataclass(frozen=True)
class Sample:
    """The state of one session after ``calls`` log calls."""

    calls: int
    caller: int
    logger: int
    loggers: int


@dataclass(frozen=True)
class Backlog:
    """The caller's memory along a tight loop of log calls that do not wait."""

    calls: int
    seconds: float
    samples: list[tuple[float, int]]  # (seconds into the loop, anonymous bytes)

    @property
    def growth(self) -> int:
        """From before the loop to its highest point."""
        return max(taken for _, taken in self.samples) - self.samples[0][1]

    @property
    def end_growth(self) -> int:
        """From before the loop to after it."""
        return self.samples[-1][1] - self.samples[0][1]


def session_memory(cluster: BenchCluster) -> SessionMemory:
    """The memory of a session that logs, beside a session that does not."""
    with cluster.connect() as plain, cluster.connect() as conn:
        plain.execute("DO LANGUAGE plpython3u 'pass'")
        caller = _pid(conn)
        conn.execute("DO LANGUAGE plpython3u 'pass'")
        before = anonymous_bytes(caller)
        conn.execute(f"SELECT {SCHEMA}.close_job({SCHEMA}.add_job('bench memory'))")
        after = anonymous_bytes(caller)
        (logger,) = _logger_pids(conn, caller)
        return SessionMemory(before, after, anonymous_bytes(logger), anonymous_bytes(_pid(plain)))


def growth(cluster: BenchCluster, calls: int, samples: int) -> list[Sample]:
    """``calls`` log calls in one session, sampled ``samples`` times along the way."""
    chunk_steps = calls // samples // 2
    with cluster.connect() as conn:
        caller = _pid(conn)
        job = conn.execute(f"SELECT {SCHEMA}.add_job('bench growth')").fetchone()
        assert job is not None
        taken: list[Sample] = []
        for number in range(1, samples + 1):
            conn.execute("SELECT bench.log_step_count(%s, %s)", (job[0], chunk_steps))
            loggers = _logger_pids(conn, caller)
            logger_memory = anonymous_bytes(loggers[0]) if len(loggers) == 1 else 0
            taken.append(
                Sample(
                    number * chunk_steps * 2, anonymous_bytes(caller), logger_memory, len(loggers)
                )
            )
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job[0],))
    return taken


def backlog(cluster: BenchCluster, seconds: float, every: float = 0.25) -> Backlog:
    """The caller's memory, sampled ``every`` seconds, while one session runs a tight loop
    of log calls with pg_jobmon.wait_for_writes = off for ``seconds``.

    Calls that do not wait pile their writes up faster than the logging server commits
    them: the backlog must stay bounded (two writes), not grow with the calls.
    """
    with cluster.connect() as conn:
        caller = _pid(conn)
        configure(conn, "on", "off")
        # A short loop first: what the first calls of the kind allocate once is not growth.
        _log_steps(conn, 0.5)
        outcome: list[tuple[int, float] | BaseException] = []

        def run() -> None:
            try:
                outcome.append(_log_steps(conn, seconds))
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=run)
        started = time.monotonic()
        samples = [(0.0, anonymous_bytes(caller))]
        thread.start()
        while thread.is_alive():
            thread.join(every)
            samples.append((time.monotonic() - started, anonymous_bytes(caller)))
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    calls, elapsed = result
    return Backlog(calls, elapsed, samples)


def _log_steps(conn: psycopg.Connection, seconds: float) -> tuple[int, float]:
    """bench.log_steps: its calls and seconds, once all its steps are found written."""
    row = conn.execute(
        "SELECT calls, extract(epoch FROM finished - started), job FROM bench.log_steps(%s)",
        (seconds,),
    ).fetchone()
    assert row is not None
    require_rows(conn, int(row[2]), int(row[0]) // 2)
    return int(row[0]), float(row[1])


def anonymous_bytes(pid: int) -> int:
    """The anonymous memory of process ``pid``."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "Anonymous":
            return int(value.split()[0]) * 1024
    raise RuntimeError(f"no Anonymous line in /proc/{pid}/smaps_rollup")


def _pid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _logger_pids(conn: psycopg.Connection, caller: int) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
        (logger_application_name(caller),),
    ).fetchall()
    return [int(row[0]) for row in rows]
