"""The view logging_sessions: who holds a logging connection, and whether a write waits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, in_background, wait_until
from psycopg.errors import InsufficientPrivilege
from readme import readme_sql

COLUMNS = [
    "datname",
    "caller_pid",
    "caller_role",
    "caller_application_name",
    "logger_pid",
    "logger_role",
    "logger_start",
    "write_waiting",
    "wait_event",
    "ended_at",
    "writes_unreported",
    "first_error",
]
VIEW = f"SELECT * FROM {SCHEMA}.logging_sessions ORDER BY caller_pid"


@contextlib.contextmanager
def readme_role(conn: psycopg.Connection, role: str, block: str) -> Iterator[None]:
    """Role ``role``, given the README's block ``block`` of grants (which names it)."""
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn.execute(readme_sql(block))
        yield
    finally:
        # Roles belong to the cluster, which every test shares.
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def monitor(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of a role given the README's monitor grants, and nothing else."""
    with readme_role(conn, "monitor", "monitor"), cluster.connect(db, user="monitor") as session:
        yield session


@pytest.fixture
def runner(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A session of a role given the README's job-runner grants."""
    with (
        readme_role(conn, "job_runner", "job-runner"),
        cluster.connect(db, user="job_runner", application_name="nightly") as session,
    ):
        yield session


def rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cursor = conn.execute(VIEW)
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def loggers(conn: psycopg.Connection) -> dict[int, tuple[str, Any]]:
    """The logging backends as pg_stat_activity shows them: pid -> (role, backend_start)."""
    found = conn.execute(
        "SELECT pid, usename, backend_start FROM pg_stat_activity"
        " WHERE application_name LIKE 'pg_jobmon logger for backend %'"
    ).fetchall()
    return {pid: (role, start) for pid, role, start in found}


def test_one_row_per_logging_session_with_its_caller_and_logger(
    db: str, conn: psycopg.Connection, runner: psycopg.Connection
) -> None:
    assert rows(conn) == []
    add_job(conn)
    add_job(runner)
    found = rows(conn)
    assert [(row["caller_pid"], row["caller_role"]) for row in found] == sorted(
        [(conn.info.backend_pid, "postgres"), (runner.info.backend_pid, "job_runner")]
    )
    backends = loggers(conn)
    assert sorted(row["logger_pid"] for row in found) == sorted(backends)
    for row in found:
        assert (row["logger_role"], row["logger_start"]) == backends[row["logger_pid"]]
        assert row["datname"] == db
        assert row["write_waiting"] is False
        assert row["wait_event"] is None
    by_caller = {row["caller_pid"]: row for row in found}
    assert by_caller[runner.info.backend_pid]["caller_application_name"] == "nightly"


def test_a_write_waiting_for_a_lock_is_shown(
    cluster: Cluster, db: str, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    job_id = add_job(conn)
    conn.execute("SET pg_jobmon.lock_timeout = '30s'")
    with cluster.connect(db) as holder:
        holder.execute("BEGIN")
        holder.execute(f"SELECT FROM {SCHEMA}.job_log WHERE job_id = %s FOR UPDATE", (job_id,))
        with in_background(conn, f"SELECT {SCHEMA}.close_job(%s)", (job_id,)) as closing:
            wait_until(lambda: rows(monitor)[0]["write_waiting"], what="the write to wait")
            assert rows(monitor)[0]["wait_event"] == "Lock: transactionid"
            holder.execute("COMMIT")
            closing.result(timeout=10)
    assert [(row["write_waiting"], row["wait_event"]) for row in rows(monitor)] == [(False, None)]


def test_a_session_that_ended_is_gone(cluster: Cluster, db: str, conn: psycopg.Connection) -> None:
    add_job(conn)
    with cluster.connect(db) as short:
        add_job(short)
        assert len(rows(conn)) == 2
    wait_until(lambda: len(rows(conn)) == 1, what="the ended session's row to go")
    assert rows(conn)[0]["caller_pid"] == conn.info.backend_pid


def test_the_monitor_role_sees_every_roles_sessions(
    conn: psycopg.Connection, runner: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    add_job(conn)
    add_job(runner)
    assert rows(monitor) == rows(conn)
    assert all(row["logger_start"] is not None for row in rows(monitor))


def test_it_shows_these_columns_and_nothing_of_the_configuration(
    cluster: Cluster, conn: psycopg.Connection, monitor: psycopg.Connection
) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, pwd) VALUES (%s, 'hunter2-secret')",
        (str(cluster.socket_dir),),
    )
    add_job(conn)
    found = rows(monitor)
    assert len(found) == 1 and list(found[0]) == COLUMNS
    assert "hunter2" not in repr(found)
    with pytest.raises(InsufficientPrivilege):
        monitor.execute(f"SELECT * FROM {SCHEMA}.dblink_mapping_jobmon")


def test_a_role_without_the_grants_reads_nothing(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE ROLE stranger LOGIN")
    try:
        conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO stranger")
        with cluster.connect(db, user="stranger") as stranger:
            for query in (VIEW, f"SELECT * FROM {SCHEMA}._logging_sessions()"):
                with pytest.raises(InsufficientPrivilege):
                    stranger.execute(query)
    finally:
        conn.execute("DROP OWNED BY stranger")
        conn.execute("DROP ROLE stranger")
