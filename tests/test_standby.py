"""Jobs on a hot standby log to the primary, and follow it through a promotion."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import SCHEMA, TEMPLATE, Cluster, add_job, scalar, started_cluster

DB = "jobs"


@contextlib.contextmanager
def streaming_replica(primary: Cluster) -> Iterator[Cluster]:
    """A hot standby of ``primary``, caught up with it; removed afterwards."""
    node = primary.node.replicate(options=["--checkpoint=fast"])
    try:
        node.start()
        node.catchup()
        yield Cluster(node, primary.socket_dir)
    finally:
        node.cleanup()


def log_rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT j.job_name, j.status, d.action, d.status"
        f" FROM {SCHEMA}.job_log AS j LEFT JOIN {SCHEMA}.job_detail AS d USING (job_id)"
        " ORDER BY j.job_id, d.step_id"
    ).fetchall()


@pytest.mark.slow
def test_standby_jobs_log_to_the_primary_and_follow_a_promotion() -> None:
    with started_cluster() as primary:
        primary.create_template()
        with primary.connect() as admin:
            admin.execute(f"CREATE DATABASE {DB} TEMPLATE {TEMPLATE}")
        with streaming_replica(primary) as standby, standby.connect(DB) as job:
            assert scalar(job, "SELECT pg_is_in_recovery()") is True

            # With no configuration the logging connection stays on the standby.
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raised:
                add_job(job, "nowhere")
            assert "target_session_attrs" in str(raised.value.diag.message_hint)

            # Both servers listed: the logging connection finds the writable one.
            with primary.connect(DB) as conn:
                conn.execute(
                    f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon"
                    " (host, port, target_session_attrs) VALUES (%s, %s, 'read-write')",
                    (
                        f"{primary.socket_dir},{standby.socket_dir}",
                        f"{primary.node.port},{standby.node.port}",
                    ),
                )
            standby.node.catchup()
            job_id = add_job(job, "on standby")
            step = scalar(job, f"SELECT {SCHEMA}.add_step(%s, 'before failover')", (job_id,))
            job.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))
            with primary.connect(DB) as conn:
                assert log_rows(conn) == [("ON STANDBY", None, "before failover", "OK")]

            # The primary goes; the standby is promoted; the same session logs on.
            standby.node.catchup()
            primary.node.stop()
            standby.node.promote()
            step = scalar(job, f"SELECT {SCHEMA}.add_step(%s, 'after failover')", (job_id,))
            job.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))
            job.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
            assert scalar(job, "SELECT pg_is_in_recovery()") is False
            assert log_rows(job) == [
                ("ON STANDBY", "OK", "before failover", "OK"),
                ("ON STANDBY", "OK", "after failover", "OK"),
            ]
