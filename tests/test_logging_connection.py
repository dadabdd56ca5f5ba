"""One logging connection per calling session: reused, identifiable, pinned, replaced."""

from __future__ import annotations

import re

import psycopg
import pytest
from fix_cluster import (
    LOGGER_PREFIX,
    SCHEMA,
    TEMPLATE,
    Cluster,
    add_job,
    logger_application_name,
    started_cluster,
    wait_until,
)

STEP_PAIRS = f"""
    DO $$
    DECLARE v_job bigint := {SCHEMA}.add_job('pairs');
    BEGIN
        FOR i IN 1..%s LOOP
            PERFORM {SCHEMA}.update_step({SCHEMA}.add_step(v_job, 'step ' || i), 'OK', 'done');
        END LOOP;
        PERFORM {SCHEMA}.close_job(v_job);
    END
    $$
"""


def test_one_logging_backend_for_all_calls_of_a_session(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    assert cluster.loggers(db) == []
    conn.execute(STEP_PAIRS.replace("%s", "100"))  # 200 step calls and two job calls
    for _ in range(3):  # and more calls, each in its own transaction
        add_job(conn)
    loggers = cluster.loggers(db)
    assert loggers == [(loggers[0][0], logger_application_name(conn.info.backend_pid))]
    steps = conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_detail").fetchone()
    assert steps == (100,)


def test_each_session_has_its_own_and_it_goes_with_it(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as first, cluster.connect(db) as second:
        add_job(first)
        add_job(second)
        assert len(cluster.loggers(db)) == 2
    wait_until(lambda: cluster.loggers(db) == [], what="logging backends to end")


def test_logging_session_pins_its_search_path(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    # Were the logging session to take the role's search_path, upper() would be this one.
    conn.execute(
        "CREATE FUNCTION public.upper(text) RETURNS text LANGUAGE sql AS $$ SELECT 'HIJACKED' $$"
    )
    conn.execute(f"ALTER ROLE postgres IN DATABASE {db} SET search_path = public, pg_catalog")
    try:
        with cluster.connect(db) as caller:
            add_job(caller, "pinned")
    finally:
        conn.execute(f"ALTER ROLE postgres IN DATABASE {db} RESET search_path")
    names = conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall()
    assert names == [("PINNED",)]


def test_logging_session_runs_only_fixed_statements(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    hostile = "x'); DROP TABLE jobmon.job_log; --"
    job_id = add_job(conn, hostile)
    step = conn.execute(f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, hostile)).fetchone()
    assert step is not None
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, %s, %s)", (step[0], hostile, hostile))
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
    ((logger_pid, _),) = cluster.loggers(db)
    # log_statement = all: each statement of the logging session, by its backend pid.
    pattern = re.compile(rf"\[{logger_pid}\] {re.escape(LOGGER_PREFIX)}\d+: LOG:  (.*)")
    statements = [
        match.group(1)
        for line in cluster.log_file.read_text().splitlines()
        if (match := pattern.search(line))
    ]
    assert len(statements) == 6
    assert statements[0].startswith("statement: LISTEN pg_jobmon_config;")
    # Then, on the caller's own server, the configuration's version as committed now.
    assert statements[1] == f"statement: SELECT {SCHEMA}._dblink_mapping_version()"
    assert [text.split(":")[0] for text in statements[2:]] == [
        "execute pg_jobmon_add_job",
        "execute pg_jobmon_add_step",
        "execute pg_jobmon_update_step",
        "execute pg_jobmon_finish_job",
    ]
    assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_log").fetchone() == (1,)


def test_terminated_logging_backend_is_replaced(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    job_id = add_job(conn)
    ((old_pid, _),) = cluster.loggers(db)
    with cluster.connect(db) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    wait_until(lambda: cluster.loggers(db) == [], what="the logging backend to end")
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    ((new_pid, _),) = cluster.loggers(db)
    assert new_pid != old_pid
    assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log").fetchone() == ("OK",)


def test_changed_config_row_replaces_the_connection(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE ROLE jobmon_writer LOGIN SUPERUSER")
    job_id = add_job(conn)
    ((old_pid, _),) = cluster.loggers(db)
    with cluster.connect(db) as admin:
        admin.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username) VALUES ('jobmon_writer')"
        )
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))

    def loggers() -> list[tuple[int, str]]:
        return conn.execute(
            "SELECT pid, usename FROM pg_stat_activity"
            " WHERE datname = %s AND application_name LIKE %s",
            (db, LOGGER_PREFIX + "%"),
        ).fetchall()

    # The old logging backend was let go; it leaves pg_stat_activity a moment later.
    wait_until(lambda: old_pid not in [pid for pid, _ in loggers()], what="the old logger to go")
    ((new_pid, role),) = loggers()
    assert new_pid != old_pid
    assert role == "jobmon_writer"


@pytest.mark.slow
def test_restart_of_the_logging_server_between_calls(cluster: Cluster, db: str) -> None:
    """A caller whose log lives on another server keeps logging across its restart."""
    with started_cluster() as remote:
        remote.create_template()
        with remote.connect() as admin:
            admin.execute(f"CREATE DATABASE {db} TEMPLATE {TEMPLATE}")
        with cluster.connect(db) as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES (%s, %s)",
                (str(remote.socket_dir), str(remote.node.port)),
            )
            job_id = add_job(conn, "remote")
            remote.node.restart()
            conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
            assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_log").fetchone() == (0,)
        with remote.connect(db) as check:
            rows = check.execute(f"SELECT job_name, status FROM {SCHEMA}.job_log").fetchall()
            assert rows == [("REMOTE", "OK")]


def test_unreachable_target_is_a_clear_error_without_the_password(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username, pwd, port)"
        " VALUES ('nobody_here', 'sekrit-pw-123', '1')"
    )
    with pytest.raises(psycopg.errors.SqlclientUnableToEstablishSqlconnection) as raised:
        add_job(conn, "never logged")
    diag = raised.value.diag
    text = " ".join(
        filter(
            None,
            [diag.message_primary, diag.message_detail, diag.message_hint, diag.context],
        )
    )
    assert "could not open the pg_jobmon logging connection" in text
    assert "port=1" in text and "user=nobody_here" in text
    assert "sekrit-pw-123" not in text
    # The server log has it only in the statement that stored it.
    logged = [line for line in cluster.log_file.read_text().splitlines() if "sekrit" in line]
    assert logged and all("INSERT INTO" in line for line in logged)
    conn.execute(f"DELETE FROM {SCHEMA}.dblink_mapping_jobmon")
    add_job(conn, "logged again")
    assert conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall() == [("LOGGED AGAIN",)]


def test_a_host_name_is_looked_up_and_a_name_without_address_is_a_clear_error(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    # pg_jobmon looks names up itself (so that a slow lookup stays cancellable), and
    # hands libpq every address of the name: localhost may be ::1 first, where the
    # cluster does not listen, and 127.0.0.1 after.
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (host, port) VALUES ('localhost', %s)",
        (str(cluster.node.port),),
    )
    add_job(conn, "by name")
    conn.execute(f"UPDATE {SCHEMA}.dblink_mapping_jobmon SET host = 'no-such-host.invalid'")
    with pytest.raises(psycopg.errors.SqlclientUnableToEstablishSqlconnection) as raised:
        add_job(conn, "never logged")
    assert 'could not translate host name "no-such-host.invalid"' in str(
        raised.value.diag.message_detail
    )
    rows = conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall()
    assert rows == [("BY NAME",)]
