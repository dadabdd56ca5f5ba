"""Helpers for the monitoring tests: ending jobs, configuring checks, running them, and
the monitor role's fixtures (a pytest plugin: see conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, TEMPLATE, Cluster, add_job, scalar, started_cluster
from readme import readme_sql

ALL_CLEAR = [(1, "OK", None, "All jobs run successfully")]
# The keys of an alert's payload on the channel pg_jobmon_alert.
ALERT_KEYS = {
    "event",
    "job_id",
    "job_name",
    "owner",
    "status",
    "alert_code",
    "alert_text",
    "previous_alert_code",
    "failures",
    "truncated",
}


def finished_job(conn: psycopg.Connection, name: str, fail_level: int | None = None) -> int:
    """A job that closed (no fail level) or failed at ``fail_level``; its id."""
    job_id = add_job(conn, name)
    if fail_level is None:
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    else:
        conn.execute(f"SELECT {SCHEMA}.fail_job(%s, %s)", (job_id, fail_level))
    return job_id


def configure(
    conn: psycopg.Connection,
    name: str,
    warn: str = "1 hour",
    error: str = "2 hours",
    **columns: Any,
) -> None:
    """A job_check_config row, active unless told otherwise."""
    values = {"active": True, **columns}
    names = ", ".join(["job_name", "warn_threshold", "error_threshold", *values])
    marks = ", ".join(["%s"] * (3 + len(values)))
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_check_config ({names}) VALUES ({marks})",
        (name, warn, error, *values.values()),
    )


def check_job_status(conn: psycopg.Connection, history: str | None = None) -> list[tuple[Any, ...]]:
    """The rows of check_job_status(), or of check_job_status(history)."""
    if history is None:
        return conn.execute(f"SELECT * FROM {SCHEMA}.check_job_status()").fetchall()
    return conn.execute(
        f"SELECT * FROM {SCHEMA}.check_job_status(%s::interval)", (history,)
    ).fetchall()


def check_log(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """job_check_log as (job_id, job_name, alert_code), by job id."""
    return conn.execute(f"SELECT * FROM {SCHEMA}.job_check_log ORDER BY job_id").fetchall()


def back_date(conn: psycopg.Connection, job_id: int, age: str, took: str = "0") -> str:
    """Move a job's times ``age`` into the past, and its start ``took`` further (a run that
    took that much longer); its end_time (or start) as the server prints it."""
    return str(
        scalar(
            conn,
            f"UPDATE {SCHEMA}.job_log SET start_time = start_time - %s::interval - %s::interval,"
            " end_time = end_time - %s::interval WHERE job_id = %s"
            " RETURNING coalesce(end_time, start_time)::text",
            (age, took, age, job_id),
        )
    )


def fill_big_log(conn: psycopg.Connection, jobs: int = 1_000_000, names: int = 1000) -> None:
    """A year of history: ``jobs`` finished runs of ``names`` jobs, one every 30 seconds.

    Every job's latest run is recent and good. 100 jobs are configured (99 of them
    logged, and JOB NEVER, which never ran), and three alerts are made through the
    functions: JOB 500 (unconfigured) fails three times, JOB 7 (configured) once.
    """
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
        " SELECT 'history', 'JOB ' || (i %% %s + 1), t, t + interval '10 seconds',"
        "        CASE WHEN i %% 97 = 0 THEN 'CRITICAL' ELSE 'OK' END, 0"
        " FROM generate_series(1, %s) AS i, LATERAL"
        " (SELECT now() - (%s - i) * interval '30 seconds' - interval '1 minute') AS s(t)",
        (names, jobs, jobs),
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_check_config (job_name, warn_threshold, error_threshold, active)"
        " SELECT 'JOB ' || i, interval '1 day', interval '2 days', true"
        " FROM generate_series(1, 99) AS i"
        " UNION ALL SELECT 'JOB NEVER', interval '1 day', interval '2 days', true"
    )
    for _ in range(3):
        finished_job(conn, "job 500", fail_level=3)
    finished_job(conn, "job 7", fail_level=3)
    conn.execute(f"VACUUM ANALYZE {SCHEMA}.job_log")


def moved_job(
    conn: psycopg.Connection, job_id: int, ago: str, took: str
) -> tuple[datetime, datetime]:
    """Move an ended job to have started ``ago`` and taken ``took``: its (start, end)."""
    row = conn.execute(
        f"UPDATE {SCHEMA}.job_log SET start_time = now() - %s::interval,"
        " end_time = now() - %s::interval + %s::interval WHERE job_id = %s"
        " RETURNING start_time, end_time",
        (ago, ago, took, job_id),
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
def monitor(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of a role with exactly the README's monitor grants."""
    conn.execute("CREATE ROLE monitor LOGIN")
    conn.execute(readme_sql("monitor"))
    with cluster.connect(db, user="monitor") as session:
        yield session
    # Roles belong to the cluster, which every test shares.
    conn.execute("DROP OWNED BY monitor")
    conn.execute("DROP ROLE monitor")


# The password of the role monitor in the cluster `guarded`.
MONITOR_PASSWORD = "right one"


@pytest.fixture(scope="module")
def guarded() -> Iterator[Cluster]:
    """A cluster that asks every role but postgres for a password over TCP, with the role
    monitor (password MONITOR_PASSWORD, the README's grants) in its template."""
    hba = [
        "local all all trust",
        "host all postgres 127.0.0.1/32 trust",
        "host all all 127.0.0.1/32 scram-sha-256",
    ]
    with started_cluster(hba=hba) as running:
        running.create_template()
        with running.connect(TEMPLATE) as conn:
            conn.execute(f"CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PASSWORD}'")
            conn.execute(readme_sql("monitor"))
        yield running
