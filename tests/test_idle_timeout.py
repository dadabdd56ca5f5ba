"""pg_jobmon.idle_timeout: an idle logging connection gives its slot back, and comes back."""

from __future__ import annotations

import time

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, logger_application_name, scalar, wait_until
from psycopg.errors import InvalidParameterValue
from readme import reference_sql

IDLE_CLOSE = "terminating connection due to idle-session timeout"


def logger_pids(cluster: Cluster, db: str, caller: psycopg.Connection) -> list[int]:
    name = logger_application_name(caller.info.backend_pid)
    return [pid for pid, application in cluster.loggers(db) if application == name]


def idle_closes_logged(cluster: Cluster, caller: psycopg.Connection) -> list[str]:
    """Server log lines of the caller's logging connections closed by idle_session_timeout."""
    name = logger_application_name(caller.info.backend_pid)
    lines = cluster.log_file.read_text(errors="replace").splitlines()
    return [line for line in lines if f"{name}: FATAL:  {IDLE_CLOSE}" in line]


def status_of(conn: psycopg.Connection, job_id: int) -> str | None:
    query = f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s"
    status = scalar(conn, query, (job_id,))
    return None if status is None else str(status)


def test_an_idle_logging_connection_is_closed_by_its_server_and_reopened(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute("SET pg_jobmon.idle_timeout = '1s'")
    job_id = add_job(conn, "pooled")
    (first,) = logger_pids(cluster, db, conn)
    # The caller makes no call: only the server's own timeout can close it.
    wait_until(lambda: logger_pids(cluster, db, conn) == [], what="the idle close")
    assert len(idle_closes_logged(cluster, conn)) == 1
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert status_of(conn, job_id) == "OK"
    (second,) = logger_pids(cluster, db, conn)
    assert second != first


def test_a_connection_nearly_idle_that_long_is_replaced_before_a_write(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    # With 4 s, the caller replaces a connection idle for 2 s or more (half the timeout,
    # at most 5 s): well before its server would close it.
    conn.execute("SET pg_jobmon.idle_timeout = '4s'")
    job_id = add_job(conn, "pooled")
    (first,) = logger_pids(cluster, db, conn)
    time.sleep(0.5)
    step_id = conn.execute(f"SELECT {SCHEMA}.add_step(%s, 'one')", (job_id,)).fetchall()[0][0]
    assert logger_pids(cluster, db, conn) == [first]
    time.sleep(2.5)
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step_id,))
    (second,) = logger_pids(cluster, db, conn)
    assert second != first
    # Closed by the caller, not by the server's timeout.
    assert idle_closes_logged(cluster, conn) == []
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert status_of(conn, job_id) == "OK"


def test_zero_keeps_it_open_whatever_the_server_wide_setting(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    # The test's own sessions opened before this, and keep the server's default.
    conn.execute(f"ALTER DATABASE {db} SET idle_session_timeout = '1s'")
    conn.execute("SET pg_jobmon.idle_timeout = 0")
    job_id = add_job(conn, "kept")
    (first,) = logger_pids(cluster, db, conn)
    time.sleep(2)
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    assert logger_pids(cluster, db, conn) == [first]


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("500ms", "The value must be 0 (no timeout) or between 1s and 2147483647ms."),
        ("30d", "The value must be 0 (no timeout) or between 1s and 2147483647ms."),
        ("soon", None),
    ],
)
def test_a_bad_value_refuses_the_call_that_would_open_the_connection(
    cluster: Cluster, db: str, conn: psycopg.Connection, value: str, detail: str | None
) -> None:
    conn.execute("SELECT set_config('pg_jobmon.idle_timeout', %s, false)", (value,))
    with pytest.raises(InvalidParameterValue) as raised:
        add_job(conn, "never written")
    diag = raised.value.diag
    message = str(diag.message_primary).removeprefix("plpy.Error: ")
    assert message == f'invalid value for parameter "pg_jobmon.idle_timeout": "{value}"'
    assert diag.message_detail == detail
    assert logger_pids(cluster, db, conn) == []
    assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_log").fetchall() == [(0,)]
    conn.execute("RESET pg_jobmon.idle_timeout")
    assert add_job(conn, "written") > 0


def test_the_references_queries_show_the_settings_and_where_they_come_from(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute(f"ALTER DATABASE {db} SET pg_jobmon.idle_timeout = '5min'")
    values, origins = filter(str.strip, reference_sql("settings").split(";"))
    with cluster.connect(db) as session:
        assert session.execute(values).fetchall() == [
            ("pg_jobmon.lock_timeout", None),
            ("pg_jobmon.synchronous_commit", None),
            ("pg_jobmon.idle_timeout", "5min"),
        ]
        assert (db, "(every role)", ["pg_jobmon.idle_timeout=5min"]) in session.execute(
            origins
        ).fetchall()
