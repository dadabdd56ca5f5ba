"""A session's application_name never decides whether its job counts as running."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import (
    SCHEMA,
    Cluster,
    backend_state,
    in_background,
    scalar,
    sleeping_job,
    wait_until,
)

# The name pg_jobmon gives its logging connections, which any session may take.
LOGGER_LIKE_NAME = "pg_jobmon logger for backend 1"
SLEEPY_JOB = sleeping_job("disguised")


def test_a_job_of_a_session_named_like_a_logging_connection_is_running(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    with (
        cluster.connect(db, application_name=LOGGER_LIKE_NAME) as disguised,
        in_background(disguised, SLEEPY_JOB) as run,
    ):
        pid = disguised.info.backend_pid
        wait_until(lambda: backend_state(conn, pid) == ("active", "Timeout"), what="the sleep")
        job_id = int(scalar(conn, f"SELECT job_id FROM {SCHEMA}.job_log"))
        assert conn.execute(f"SELECT job_id, pid FROM {SCHEMA}.show_running()").fetchall() == [
            (job_id, pid)
        ]
        # job_log_clear keeps a running job, however old.
        conn.execute(f"SELECT {SCHEMA}.job_log_clear('0 s')")
        assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
        assert scalar(conn, f"SELECT {SCHEMA}.cancel_job(%s)", (job_id,))
        with pytest.raises(psycopg.errors.QueryCanceled):
            run.result(timeout=10)
    assert scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,)) == (
        "CRITICAL"
    )
