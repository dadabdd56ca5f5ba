"""A job that works between its log calls: what the log calls add to it.

Each step of the job is add_step, some CPU work in the caller's backend, update_step and
the same work again (bench.working_job): a job spends its time working, not logging.
The work alone (no log calls) is timed beside the job that logs with
pg_jobmon.wait_for_writes on and with it off, in alternating rounds; each job is timed
by the server's clock up to the return of its close_job, which waits for whatever its
log calls left pending. What one log call adds to the job is the difference per step,
over the step's two calls. The work is a count over generate_series, its length
calibrated once at the start so that it takes about ``work_seconds``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import psycopg

from bench.cluster import BenchCluster
from bench.workloads import configure, require_rows

# Steps of the runs that calibrate the work.
CALIBRATION_STEPS = 200
CALIBRATION_RUNS = 3
FIRST_GUESS_ROWS = 10_000
WAIT_FOR_WRITES = ("on", "off")


@dataclass(frozen=True)
class WorkingJob:
    """Median seconds per step: the work alone, and with log calls by wait_for_writes."""

    rows: int  # rows counted by one piece of work
    work_seconds: float  # one piece of work, as calibrated
    steps: int
    rounds: int
    alone: float
    logging: dict[str, float]  # by pg_jobmon.wait_for_writes

    def added_per_call(self, wait_for_writes: str) -> float:
        """Seconds one log call adds to the job (two calls per step)."""
        return (self.logging[wait_for_writes] - self.alone) / 2


def measure(
    cluster: BenchCluster, work_seconds: float, steps: int, rounds: int, synchronous_commit: str
) -> WorkingJob:
    """Calibrate the work, then time the job without and with log calls, alternately."""
    with cluster.connect() as conn:
        rows, calibrated = calibrate(conn, work_seconds)
    alone: list[float] = []
    logging: dict[str, list[float]] = {setting: [] for setting in WAIT_FOR_WRITES}
    for _ in range(rounds):
        alone.append(_step_seconds(cluster, rows, steps, None, synchronous_commit))
        for setting, runs in logging.items():
            runs.append(_step_seconds(cluster, rows, steps, setting, synchronous_commit))
    return WorkingJob(
        rows=rows,
        work_seconds=calibrated,
        steps=steps,
        rounds=rounds,
        alone=statistics.median(alone),
        logging={setting: statistics.median(runs) for setting, runs in logging.items()},
    )


def calibrate(conn: psycopg.Connection, work_seconds: float) -> tuple[int, float]:
    """Rows to count for a piece of work of about ``work_seconds``, and its measured time."""
    rows = FIRST_GUESS_ROWS
    seconds = _work_seconds(conn, rows)
    rows = max(1, round(rows * work_seconds / seconds))
    return rows, _work_seconds(conn, rows)


def _work_seconds(conn: psycopg.Connection, rows: int) -> float:
    """Median seconds of one piece of work counting ``rows`` rows (two per step)."""
    runs = [
        _run(conn, CALIBRATION_STEPS, rows, log=False)[0] / (2 * CALIBRATION_STEPS)
        for _ in range(CALIBRATION_RUNS)
    ]
    return statistics.median(runs)


def _step_seconds(
    cluster: BenchCluster,
    rows: int,
    steps: int,
    wait_for_writes: str | None,
    synchronous_commit: str,
) -> float:
    """Seconds per step of one job in a session of its own (no log calls if None)."""
    with cluster.connect() as conn:
        if wait_for_writes is not None:
            configure(conn, synchronous_commit, wait_for_writes)
        # The work's plan and, when it logs, the logging connection: not timed here.
        _run(conn, 2, rows, log=wait_for_writes is not None)
        seconds, job = _run(conn, steps, rows, log=wait_for_writes is not None)
        if job is not None:
            require_rows(conn, job, steps)
    return seconds / steps


def _run(conn: psycopg.Connection, steps: int, rows: int, log: bool) -> tuple[float, int | None]:
    row = conn.execute("SELECT * FROM bench.working_job(%s, %s, %s)", (steps, rows, log)).fetchone()
    assert row is not None
    return float(row[0]), None if row[1] is None else int(row[1])
