"""Who can log, and how the logging connection gets in, with no configuration or with some.

Two set-ups: the run's cluster (trust, as a fresh initdb makes it) and a cluster with a
Debian-style pg_hba.conf (peer for unix sockets, passwords over TCP) whose server
finds a .pgpass through PGPASSFILE. Both use a non-default port and socket directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fix_cluster import (
    LOGGER_PREFIX,
    PUBLIC_FUNCTIONS,
    SCHEMA,
    Cluster,
    add_job,
    refusal,
    server_environment,
    started_cluster,
)
from readme import readme_sql

WRITER_PASSWORD = "writer-pw-0xbeef"
TABLES = [
    "job_log",
    "job_detail",
    "job_check_log",
    "job_check_config",
    "job_status_text",
    "dblink_mapping_jobmon",
    "job_retention",
]
SEQUENCES = ["job_log_job_id_seq", "job_detail_step_id_seq"]


def run_readme_sql(conn: psycopg.Connection, name: str) -> None:
    for statement in filter(str.strip, readme_sql(name).split(";")):
        conn.execute(statement)


def logger_roles(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT usename FROM pg_stat_activity WHERE application_name LIKE %s",
        (LOGGER_PREFIX + "%",),
    ).fetchall()
    return [row[0] for row in rows]


def test_job_runner_grants_are_enough_and_no_more(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE ROLE job_runner LOGIN")
    try:
        run_readme_sql(conn, "job-runner")
        with cluster.connect(db, user="job_runner") as runner:
            job_id = add_job(runner, "runner job")
            step = runner.execute(f"SELECT {SCHEMA}.add_step(%s, 'one')", (job_id,)).fetchone()
            assert step is not None
            runner.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'fine')", (step[0],))
            runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
            owner = runner.execute(f"SELECT owner, status FROM {SCHEMA}.job_log").fetchone()
            assert owner == ("job_runner", "OK")
            # Writing goes through the functions only; the settings stay unreadable.
            for statement in (
                f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
                " VALUES ('x', 'X', now(), 1)",
                f"UPDATE {SCHEMA}.job_log SET status = 'OK'",
                f"SELECT * FROM {SCHEMA}.dblink_mapping_jobmon",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    runner.execute(statement)
    finally:
        # Roles belong to the cluster, which every test shares.
        conn.execute("DROP OWNED BY job_runner")
        conn.execute("DROP ROLE job_runner")


def test_role_without_grants_reaches_nothing_of_the_log(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (pwd, port) VALUES ('secret-pw', %s)",
        (str(cluster.node.port),),
    )
    add_job(conn, "secret job")
    conn.execute("CREATE ROLE outsider LOGIN")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO outsider")  # even with the schema
    try:
        with cluster.connect(db, user="outsider") as outsider:
            functions = outsider.execute(
                "SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')',"
                " p.proname, ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t),"
                " has_function_privilege(p.oid, 'EXECUTE')"
                " FROM pg_proc AS p WHERE p.pronamespace = %s::regnamespace",
                (SCHEMA,),
            ).fetchall()
            assert {signature for signature, _, _, allowed in functions if allowed} == (
                PUBLIC_FUNCTIONS
            )
            for _, name, types, allowed in functions:
                if not allowed:
                    nulls = ", ".join(f"NULL::{type_name}" for type_name in types)
                    query = f"SELECT {SCHEMA}.{name}({nulls})"
                    refusal(outsider, query, psycopg.errors.InsufficientPrivilege)
            # The helpers left to PUBLIC read the log with the caller's rights only.
            for helper in ("_running_jobs()", "_alert_text(3)"):
                query = f"SELECT * FROM {SCHEMA}.{helper}"
                refusal(outsider, query, psycopg.errors.InsufficientPrivilege)
            backends = outsider.execute(f"SELECT * FROM {SCHEMA}._live_backends()")
            assert [column.name for column in backends.description or []] == [
                "pid",
                "backend_start",
            ]
            for relation in TABLES + SEQUENCES:
                query = f"SELECT * FROM {SCHEMA}.{relation}"
                refusal(outsider, query, psycopg.errors.InsufficientPrivilege)
            for sequence in SEQUENCES:
                query = f"SELECT nextval('{SCHEMA}.{sequence}')"
                refusal(outsider, query, psycopg.errors.InsufficientPrivilege)
    finally:
        # Roles belong to the cluster, which every test shares.
        conn.execute("DROP OWNED BY outsider")
        conn.execute("DROP ROLE outsider")
    rows = conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall()
    assert rows == [("SECRET JOB",)]


def test_grants_of_1_5_0_still_work(cluster: Cluster, db: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE ROLE old_style LOGIN")
    for statement in (
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO old_style",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO old_style",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO old_style",
        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO old_style",
    ):
        conn.execute(statement)
    with cluster.connect(db, user="old_style") as old:
        old.execute(f"SELECT {SCHEMA}.fail_job({SCHEMA}.add_job('old style'))")
    assert conn.execute(f"SELECT owner, status FROM {SCHEMA}.job_log").fetchone() == (
        "old_style",
        "CRITICAL",
    )


@pytest.fixture(scope="module")
def peer_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster with Debian's authentication, whose server has a .pgpass."""
    passfile = tmp_path_factory.mktemp("pgpass") / "pgpass"
    passfile.write_text(f"*:*:*:jobmon_writer:{WRITER_PASSWORD}\n")
    passfile.chmod(0o600)
    hba = [
        "local all all peer",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
    ]
    with (
        server_environment(PGPASSFILE=str(passfile)),
        started_cluster(hba=hba, log_connections="on") as running,
    ):
        yield running


@pytest.fixture
def peer_db(peer_cluster: Cluster) -> Iterator[str]:
    name = "peer_test"
    with superuser(peer_cluster) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    with superuser(peer_cluster, name) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
        conn.execute("DROP ROLE IF EXISTS job_runner")
        conn.execute("CREATE ROLE job_runner LOGIN PASSWORD 'runner-pw'")
        run_readme_sql(conn, "job-runner")
    yield name
    with superuser(peer_cluster) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS job_runner")
        conn.execute("DROP ROLE IF EXISTS jobmon_writer")


def superuser(cluster: Cluster, dbname: str = "postgres") -> psycopg.Connection:
    """Over the unix socket, as the OS user: what peer authentication accepts."""
    return cluster.connect(dbname, host=str(cluster.socket_dir))


def test_peer_authentication_superuser_caller(peer_cluster: Cluster, peer_db: str) -> None:
    with superuser(peer_cluster, peer_db) as conn:
        conn.execute(f"SELECT {SCHEMA}.close_job({SCHEMA}.add_job('peer'))")
        assert logger_roles(conn) == ["postgres"]
        assert conn.execute(f"SELECT status FROM {SCHEMA}.job_log").fetchone() == ("OK",)


def test_peer_authentication_non_superuser_caller(peer_cluster: Cluster, peer_db: str) -> None:
    with peer_cluster.connect(peer_db, user="job_runner", password="runner-pw") as runner:
        job_id = add_job(runner, "peer runner")
        runner.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        assert runner.execute(f"SELECT owner, status FROM {SCHEMA}.job_log").fetchone() == (
            "job_runner",
            "OK",
        )


def create_logging_role(conn: psycopg.Connection) -> None:
    """The role jobmon_writer, with the grants the README gives a logging role."""
    conn.execute(f"CREATE ROLE jobmon_writer LOGIN PASSWORD '{WRITER_PASSWORD}'")
    run_readme_sql(conn, "logging-role")


def test_config_row_with_pgpass(peer_cluster: Cluster, peer_db: str) -> None:
    """A role named in dblink_mapping_jobmon, its password from the server's .pgpass."""
    with superuser(peer_cluster, peer_db) as conn:
        create_logging_role(conn)
        conn.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username, host)"
            " VALUES ('jobmon_writer', '127.0.0.1')"
        )
    with peer_cluster.connect(peer_db, user="job_runner", password="runner-pw") as runner:
        runner.execute(f"SELECT {SCHEMA}.fail_job({SCHEMA}.add_job('via pgpass'), 2)")
        assert logger_roles(runner) == ["jobmon_writer"]
        assert runner.execute(f"SELECT owner, status FROM {SCHEMA}.job_log").fetchone() == (
            "job_runner",
            "WARNING",
        )


def test_config_row_with_password(peer_cluster: Cluster, peer_db: str) -> None:
    with superuser(peer_cluster, peer_db) as conn:
        create_logging_role(conn)
        conn.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username, pwd, hostaddr, port)"
            " VALUES ('jobmon_writer', 'wrong-pw-0xdead', '127.0.0.1', %s)",
            (str(peer_cluster.node.port),),
        )
        with pytest.raises(psycopg.errors.SqlclientUnableToEstablishSqlconnection) as raised:
            add_job(conn, "wrong password")
        diag = raised.value.diag
        shown = f"{diag.message_primary} {diag.message_detail} {diag.message_hint}"
        assert "password authentication failed" in shown
        assert "wrong-pw-0xdead" not in shown
        conn.execute(f"UPDATE {SCHEMA}.dblink_mapping_jobmon SET pwd = %s", (WRITER_PASSWORD,))
        add_job(conn, "right password")
        assert logger_roles(conn) == ["jobmon_writer"]
        assert conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log").fetchall() == [
            ("RIGHT PASSWORD",)
        ]
        # Neither password shows in any session's activity, the logging one included.
        activity = conn.execute("SELECT a::text FROM pg_stat_activity AS a").fetchall()
        assert not any("wrong-pw" in row or WRITER_PASSWORD in row for (row,) in activity)
    # The server log has the passwords only in the statements that set them
    # (log_statement = all), never in a line of pg_jobmon's or of a connection.
    for line in peer_cluster.log_file.read_text().splitlines():
        if "wrong-pw" in line or WRITER_PASSWORD in line:
            assert LOGGER_PREFIX not in line, line
            logged = ("LOG:  statement: ", "LOG:  execute <unnamed>: ", "DETAIL:  parameters: ")
            assert any(kind in line for kind in logged), line
