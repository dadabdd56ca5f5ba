"""pg_partman 4.7 logs its jobs through pg_jobmon, with no configuration at all.

pg_partman finds pg_jobmon by its extension schema and calls add_job, add_step,
update_step, close_job and fail_job with no further set-up. These tests run its own
functions on the test cluster, whose port and socket directory are not PostgreSQL's
defaults, with no row in dblink_mapping_jobmon, as an ordinary role that owns the
partitioned table: each job is logged with that role and that session's process id, and
a pg_partman call that fails leaves its failed job in the log after its transaction has
rolled back, for check_job_status() to report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import testgres
from fix_cluster import SCHEMA, Cluster, logger_application_name, scalar, steps
from monitoring import ALL_CLEAR, check_job_status
from readme import readme_sql

_PG_CONFIG = testgres.get_pg_config()
_CONTROL = Path(_PG_CONFIG["SHAREDIR"]) / "extension" / "pg_partman.control"
if not _CONTROL.exists():
    _MAJOR = _PG_CONFIG["VERSION"].split()[1].split(".")[0]
    pytest.skip(
        f"pg_partman is not installed ({_CONTROL} is absent): install postgresql-{_MAJOR}-partman",
        allow_module_level=True,
    )

# The role of the README's pg_partman grants.
RUNNER = "partman_user"
PARENT = "public.events"
SETUP_JOB = "PARTMAN SETUP PARENT: PUBLIC.EVENTS"
CREATE_TABLE_JOB = "PARTMAN CREATE TABLE: PUBLIC.EVENTS"
MAINTENANCE_JOB = "PARTMAN RUN MAINTENANCE"
NEW_PARTITION = re.compile(
    r"Creating new partition public\.(?P<name>events_p\d{4}_\d{2}_\d{2})"
    r" with interval from (?P<start>.+) to (?P<end>.+)"
)
MAINTENANCE_DONE = re.compile(
    r"Partition maintenance finished\. (?P<made>\d+) partitions made\."
    r" (?P<dropped>\d+) partitions dropped\."
)
PREMAKE = 4  # create_parent's default: partitions made ahead of, and behind, today


@pytest.fixture
def runner(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of an ordinary role that may run pg_partman and log to pg_jobmon.

    pg_partman is installed in schema partman, and the role owns public.events, a table
    partitioned by range of a timestamptz column, not yet handed to pg_partman.
    """
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.dblink_mapping_jobmon") == 0
    conn.execute("CREATE SCHEMA partman")
    conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
    conn.execute(f"CREATE ROLE {RUNNER} LOGIN")
    try:
        for grant in (
            f"GRANT ALL ON SCHEMA partman TO {RUNNER}",
            f"GRANT ALL ON ALL TABLES IN SCHEMA partman TO {RUNNER}",
            f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO {RUNNER}",
            f"GRANT CREATE ON SCHEMA public TO {RUNNER}",
            readme_sql("partman"),
        ):
            conn.execute(grant)
        with cluster.connect(db, user=RUNNER) as session:
            session.execute(
                f"CREATE TABLE {PARENT} (id bigint, created_at timestamptz NOT NULL)"
                " PARTITION BY RANGE (created_at)"
            )
            yield session
    finally:
        conn.execute(f"DROP OWNED BY {RUNNER}")
        conn.execute(f"DROP ROLE {RUNNER}")


def create_parent(session: psycopg.Connection) -> None:
    """Hand public.events to pg_partman: native partitioning, one partition a day."""
    made = scalar(
        session,
        "SELECT partman.create_parent(p_parent_table := %s, p_control := 'created_at',"
        " p_type := 'native', p_interval := 'daily')",
        (PARENT,),
    )
    assert made is True


def jobs(conn: psycopg.Connection, after: int = 0) -> list[tuple[Any, ...]]:
    """(job_id, job_name, status, owner, pid) of the jobs logged after job ``after``."""
    return conn.execute(
        f"SELECT job_id, job_name, status, owner, pid FROM {SCHEMA}.job_log"
        " WHERE job_id > %s ORDER BY job_id",
        (after,),
    ).fetchall()


def last_job_id(conn: psycopg.Connection) -> int:
    return int(scalar(conn, f"SELECT coalesce(max(job_id), 0) FROM {SCHEMA}.job_log"))


def partitions(conn: psycopg.Connection) -> list[str]:
    """The children of public.events that pg_partman lists, oldest first."""
    rows = conn.execute("SELECT partition_tablename FROM partman.show_partitions(%s)", (PARENT,))
    return [row[0] for row in rows.fetchall()]


def partition_start(conn: psycopg.Connection, name: str) -> datetime:
    start = scalar(
        conn,
        "SELECT child_start_time FROM partman.show_partition_info(%s, p_parent_table := %s)",
        (f"public.{name}", PARENT),
    )
    assert isinstance(start, datetime)
    return start


def created_partitions(conn: psycopg.Connection, job_id: int) -> list[str]:
    """The partitions that a CREATE TABLE job's steps say were made, each ended OK / Done."""
    names = []
    for action, status, message in steps(conn, job_id):
        made = NEW_PARTITION.fullmatch(action)
        assert made is not None, action
        assert (status, message) == ("OK", "Done")
        names.append(made["name"])
    return names


def test_create_parent_logs_its_setup_job_as_the_calling_session(
    cluster: Cluster, db: str, conn: psycopg.Connection, runner: psycopg.Connection
) -> None:
    pid = runner.info.backend_pid
    create_parent(runner)

    logged = jobs(conn)
    assert [row[1:] for row in logged] == [
        (SETUP_JOB, "OK", RUNNER, pid),
        (CREATE_TABLE_JOB, "OK", RUNNER, pid),
    ]
    setup_id, create_id = logged[0][0], logged[1][0]
    assert steps(conn, setup_id) == [
        (f"Creating initial partitions on new parent table: {PARENT}", "OK", "Done")
    ]
    # One step for each partition that pg_partman made: today's, PREMAKE days behind it
    # and PREMAKE days ahead, all of them there once create_parent has returned.
    made = created_partitions(conn, create_id)
    assert made == partitions(conn)
    assert len(made) == 2 * PREMAKE + 1
    times: dict[int, tuple[datetime, datetime | None]] = {
        job_id: (start, end)
        for job_id, start, end in conn.execute(
            f"SELECT job_id, start_time, end_time FROM {SCHEMA}.job_log"
        ).fetchall()
    }
    setup_start, setup_end = times[setup_id]
    create_start, create_end = times[create_id]
    today = partition_start(conn, made[PREMAKE])
    assert today <= setup_start < today + timedelta(days=1)

    # Both jobs have ended, and the job that create_parent ran inside its own is logged
    # within it: each write is stamped with the time it was made, not the transaction's.
    assert setup_end is not None
    assert create_end is not None
    assert setup_start < create_start <= create_end < setup_end

    # The rows were written by the calling session's own logging connection, found with
    # no configuration: the caller is not a logger, and it has exactly one.
    loggers = cluster.loggers(db)
    assert [name for _, name in loggers] == [logger_application_name(pid)]
    assert pid not in [logger for logger, _ in loggers]


def test_run_maintenance_logs_its_job_and_makes_the_partitions_it_reports(
    conn: psycopg.Connection, runner: psycopg.Connection
) -> None:
    create_parent(runner)
    before = partitions(conn)
    # A row in today's partition, which the maintenance counts forward from, and three
    # more partitions wanted ahead of it than create_parent made.
    today = partition_start(conn, before[PREMAKE])
    runner.execute(f"INSERT INTO {PARENT} VALUES (1, %s)", (today + timedelta(hours=1),))
    wanted = 3
    runner.execute(
        "UPDATE partman.part_config SET premake = %s WHERE parent_table = %s",
        (PREMAKE + wanted, PARENT),
    )
    since = last_job_id(conn)

    runner.execute("SELECT partman.run_maintenance()")

    pid = runner.info.backend_pid
    logged = jobs(conn, since)
    assert [row[1:] for row in logged] == [
        (MAINTENANCE_JOB, "OK", RUNNER, pid),
        *[(CREATE_TABLE_JOB, "OK", RUNNER, pid)] * wanted,
    ]
    ((action, status, message),) = steps(conn, logged[0][0])
    assert (action, status) == ("Running maintenance loop", "OK")
    report = MAINTENANCE_DONE.fullmatch(message)
    assert report is not None, message
    assert (int(report["made"]), int(report["dropped"])) == (wanted, 0)

    # The partitions it reports are there: the next days after the last one there was,
    # each logged by its own CREATE TABLE job, and rows of their days go into them.
    after = partitions(conn)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert len(new) == wanted
    assert [name for job in logged[1:] for name in created_partitions(conn, job[0])] == new
    last = partition_start(conn, before[-1])
    assert [partition_start(conn, name) for name in new] == [
        last + timedelta(days=n) for n in range(1, wanted + 1)
    ]
    for n, name in enumerate(new, start=2):
        landed = scalar(
            runner,
            f"INSERT INTO {PARENT} VALUES (%s, %s) RETURNING tableoid",
            (n, partition_start(conn, name) + timedelta(hours=12)),
        )
        assert landed == scalar(conn, "SELECT %s::regclass::oid", (f"public.{name}",))


def test_failed_maintenance_stays_logged_and_alerts_at_the_third_failure(
    conn: psycopg.Connection, runner: psycopg.Connection
) -> None:
    create_parent(runner)
    runner.execute("CREATE TABLE public.maintenance_notes (note text)")
    # The parent is dropped and its pg_partman configuration left behind: every
    # maintenance run now fails, in pg_partman's own error handler.
    runner.execute(f"DROP TABLE {PARENT}")
    pid = runner.info.backend_pid
    error = f"Given parent table not found in system catalogs: {PARENT}"

    for run in (1, 2, 3):
        since = last_job_id(conn)
        with pytest.raises(psycopg.errors.RaiseException) as raised, runner.transaction():
            runner.execute("INSERT INTO public.maintenance_notes VALUES (%s)", (f"run {run}",))
            runner.execute("SELECT partman.run_maintenance()")
        assert str(raised.value.diag.message_primary).startswith(error)
        # The caller's transaction rolled back; the job it logged did not.
        assert scalar(conn, "SELECT count(*) FROM public.maintenance_notes") == 0
        logged = jobs(conn, since)
        assert [row[1:] for row in logged] == [(MAINTENANCE_JOB, "CRITICAL", RUNNER, pid)]
        assert steps(conn, logged[0][0]) == [
            ("Running maintenance loop", "CRITICAL", f"ERROR: {error}")
        ]
        if run < 3:
            assert check_job_status(conn) == ALL_CLEAR

    assert check_job_status(conn) == [
        (3, "FAILED_RUN", MAINTENANCE_JOB, "3 consecutive CRITICAL runs")
    ]
    statuses = conn.execute(
        f"SELECT status, end_time IS NOT NULL FROM {SCHEMA}.job_log WHERE job_name = %s",
        (MAINTENANCE_JOB,),
    ).fetchall()
    assert statuses == [("CRITICAL", True)] * 3

    # Once the stale configuration is removed, the next run is good and the alert clears.
    runner.execute("DELETE FROM partman.part_config WHERE parent_table = %s", (PARENT,))
    since = last_job_id(conn)
    runner.execute("SELECT partman.run_maintenance()")
    logged = jobs(conn, since)
    assert [row[1:] for row in logged] == [(MAINTENANCE_JOB, "OK", RUNNER, pid)]
    assert check_job_status(conn) == ALL_CLEAR


def test_failed_create_parent_stays_logged_after_its_rollback(
    conn: psycopg.Connection, runner: psycopg.Connection
) -> None:
    # A table already has the name that create_parent gives the default partition.
    runner.execute("CREATE TABLE public.events_default (id bigint, created_at timestamptz)")
    with pytest.raises(psycopg.errors.RaiseException) as raised:
        create_parent(runner)
    assert "already exists" in str(raised.value.diag.message_primary)

    # Nothing that create_parent did is left: no configuration, no partitions.
    assert scalar(conn, "SELECT count(*) FROM partman.part_config") == 0
    children = scalar(
        conn, "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (PARENT,)
    )
    assert children == 0
    # Its log is: the partitions it made before the failure, and its failed setup job.
    pid = runner.info.backend_pid
    logged = jobs(conn)
    assert [row[1:] for row in logged] == [
        (SETUP_JOB, "CRITICAL", RUNNER, pid),
        (CREATE_TABLE_JOB, "OK", RUNNER, pid),
    ]
    ((action, status, message),) = steps(conn, logged[0][0])
    assert (action, status) == (
        f"Creating initial partitions on new parent table: {PARENT}",
        "CRITICAL",
    )
    assert message.startswith("ERROR: ")
    assert "already exists" in message
    assert len(created_partitions(conn, logged[1][0])) == 2 * PREMAKE + 1
