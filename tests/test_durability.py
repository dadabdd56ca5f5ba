"""pg_jobmon.synchronous_commit: each log write flushed to disk by default, or not.

Counted in pg_stat_wal on a cluster with fsync on: a commit that waits for its WAL to
reach disk makes one flush (wal_sync) of its own; with synchronous_commit off, the WAL
writer flushes many commits at once, in the background.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, refusal, scalar, started_cluster, wait_until

CALLS = 200
STEPS = f"""
    DO $$
    DECLARE v_job bigint := {SCHEMA}.add_job('durability');
    BEGIN
        FOR i IN 1..{CALLS // 2 - 1} LOOP
            PERFORM {SCHEMA}.update_step({SCHEMA}.add_step(v_job, 'step'), 'OK', 'done');
        END LOOP;
        PERFORM {SCHEMA}.close_job(v_job);
    END
    $$
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flushing_cluster() -> Iterator[Cluster]:
    with started_cluster(fsync="on") as cluster:
        cluster.create_template()
        yield cluster


@pytest.fixture
def session(flushing_cluster: Cluster) -> Iterator[psycopg.Connection]:
    with flushing_cluster.connect(flushing_cluster.new_database()) as conn:
        yield conn


def flushes_for_log_calls(cluster: Cluster, session: psycopg.Connection) -> int:
    """WAL flushes made while the session logs CALLS writes."""
    with cluster.connect() as watcher:

        def wal() -> tuple[int, int]:
            row = watcher.execute("SELECT wal_records, wal_sync FROM pg_stat_wal").fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        records, syncs = wal()
        session.execute(STEPS)
        # A backend's statistics reach pg_stat_wal within a second of it going idle.
        wait_until(lambda: wal()[0] >= records + CALLS, what="the log writes' WAL statistics")
        return wal()[1] - syncs


def test_by_default_every_log_write_waits_for_its_flush(
    flushing_cluster: Cluster, session: psycopg.Connection
) -> None:
    assert flushes_for_log_calls(flushing_cluster, session) >= CALLS


def test_off_leaves_the_flushes_to_the_wal_writer(
    flushing_cluster: Cluster, session: psycopg.Connection
) -> None:
    session.execute("SET pg_jobmon.synchronous_commit = off")
    assert flushes_for_log_calls(flushing_cluster, session) < CALLS // 4
    steps = scalar(session, f"SELECT count(*) FROM {SCHEMA}.job_detail WHERE status = 'OK'")
    assert steps == CALLS // 2 - 1


def test_a_bad_value_is_refused_and_nothing_is_logged(session: psycopg.Connection) -> None:
    session.execute("SET pg_jobmon.synchronous_commit = sometimes")
    message = refusal(
        session, f"SELECT {SCHEMA}.add_job('refused')", psycopg.errors.InvalidParameterValue
    )
    assert message.endswith(
        'invalid value for parameter "pg_jobmon.synchronous_commit": "sometimes"'
    )
    assert scalar(session, f"SELECT count(*) FROM {SCHEMA}.job_log") == 0
    session.execute("RESET pg_jobmon.synchronous_commit")
    assert scalar(session, f"SELECT {SCHEMA}.add_job('logged')") > 0
