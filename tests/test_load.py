"""Load: many sessions logging at once, each through its own single logging connection."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time

import psycopg
import pytest
from fix_cluster import LOGGER_PREFIX, SCHEMA, Cluster, logger_application_name, scalar, wait_until

SESSIONS = 16
PAIRS = 2000

# One job per session: PAIRS steps, each added then updated, all in one call.
LOG_PAIRS = f"""
    CREATE FUNCTION public.log_pairs(p_pairs integer) RETURNS bigint
    LANGUAGE plpgsql AS $$
    DECLARE v_job bigint := {SCHEMA}.add_job('load');
    BEGIN
        FOR i IN 1..p_pairs LOOP
            PERFORM {SCHEMA}.update_step(
                {SCHEMA}.add_step(v_job, 'step ' || i), 'OK', 'done ' || i
            );
        END LOOP;
        PERFORM {SCHEMA}.close_job(v_job);
        RETURN v_job;
    END
    $$
"""

# Every expected step against every logged one: a row here is missing, extra or wrong.
WRONG_STEPS = f"""
    SELECT expected.job_id, expected.action, d.job_id, d.step_id, d.action, d.status, d.message
    FROM (
        SELECT job_id, 'step ' || i AS action, 'done ' || i AS message
        FROM unnest(%s::bigint[]) AS jobs (job_id), generate_series(1, %s) AS i
    ) AS expected
    FULL JOIN {SCHEMA}.job_detail AS d
        ON d.job_id = expected.job_id AND d.action = expected.action
    WHERE expected.job_id IS NULL OR d.step_id IS NULL
        OR d.status IS DISTINCT FROM 'OK'
        OR d.message IS DISTINCT FROM expected.message
        OR d.end_time IS NULL
    LIMIT 10
"""


def logging_backends(conn: psycopg.Connection, dbname: str) -> list[tuple[int, str]]:
    """(pid, application_name) of the logging connections into ``dbname``."""
    return conn.execute(
        "SELECT pid, application_name FROM pg_stat_activity"
        " WHERE datname = %s AND application_name LIKE %s ORDER BY pid",
        (dbname, LOGGER_PREFIX + "%"),
    ).fetchall()


@pytest.mark.slow
def test_concurrent_sessions_log_every_row_once_through_one_backend_each(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute(LOG_PAIRS)
    start = threading.Barrier(SESSIONS + 1, timeout=60)
    with contextlib.ExitStack() as held:
        callers = [held.enter_context(cluster.connect(db)) for _ in range(SESSIONS)]
        pids = [caller.info.backend_pid for caller in callers]
        names = {logger_application_name(pid) for pid in pids}

        def log_pairs(caller: psycopg.Connection) -> tuple[int, float]:
            start.wait()
            job_id = int(scalar(caller, "SELECT public.log_pairs(%s)", (PAIRS,)))
            return job_id, time.monotonic()

        pool = held.enter_context(concurrent.futures.ThreadPoolExecutor(max_workers=SESSIONS))
        futures = [pool.submit(log_pairs, caller) for caller in callers]
        start.wait()
        started = time.monotonic()

        # While they run, from a 17th session: each logging backend belongs to one
        # caller, and a caller's logging backend is the same one in every sample.
        backend_of: dict[str, set[int]] = {}
        samples_while_running = 0
        pending: set[concurrent.futures.Future[tuple[int, float]]] = set(futures)
        while pending:
            _, pending = concurrent.futures.wait(pending, timeout=0.25)
            sample = logging_backends(conn, db)
            assert {name for _, name in sample} <= names
            assert len({name for _, name in sample}) == len(sample)
            for pid, name in sample:
                backend_of.setdefault(name, set()).add(pid)
            samples_while_running += bool(pending)

        results = [future.result() for future in futures]  # re-raises a session's error
        wall = max(finished for _, finished in results) - started
        job_of = {pid: job_id for pid, (job_id, _) in zip(pids, results)}

        # All sessions still connected: exactly one logging backend each.
        connected = logging_backends(conn, db)
        assert sorted(name for _, name in connected) == sorted(names)
        assert samples_while_running > 0
        assert {name: {pid} for pid, name in connected} == backend_of

    wait_until(lambda: cluster.loggers(db) == [], what="the logging backends to end")

    calls = SESSIONS * PAIRS * 2
    print(
        f"\nload: {SESSIONS} sessions x {PAIRS} add_step + update_step = {calls} calls"
        f" (+{SESSIONS * 2} add_job/close_job) in {wall:.2f} s wall,"
        f" {calls / wall:.0f} calls/s; logging backends while connected: {len(connected)};"
        f" samples while running: {samples_while_running}"
    )

    jobs = conn.execute(f"SELECT job_id, job_name, status, pid FROM {SCHEMA}.job_log").fetchall()
    assert sorted(jobs) == sorted((job_of[pid], "LOAD", "OK", pid) for pid in pids)
    per_job = conn.execute(
        f"SELECT job_id, count(*), count(DISTINCT step_id) FROM {SCHEMA}.job_detail GROUP BY job_id"
    ).fetchall()
    assert sorted(per_job) == sorted((job_id, PAIRS, PAIRS) for job_id in job_of.values())
    totals = conn.execute(
        f"SELECT count(*), count(DISTINCT step_id) FROM {SCHEMA}.job_detail"
    ).fetchone()
    assert totals == (SESSIONS * PAIRS, SESSIONS * PAIRS)
    assert conn.execute(WRONG_STEPS, (list(job_of.values()), PAIRS)).fetchall() == []
