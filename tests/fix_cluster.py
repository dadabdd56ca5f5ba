"""Throwaway PostgreSQL clusters for the tests, made with testgres.

One cluster serves the whole run, on the port testgres picks and a private unix socket
directory: neither is PostgreSQL's default, which is how the tests show that
pg_jobmon needs no configuration. It holds a template database with the extension
installed; each test gets a fresh database copied from it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import testgres

from plpython_src import names

SCHEMA = "jobmon"
TEMPLATE = "jobmon_template"
# How the logging connections name themselves (application_name).
LOGGER_PREFIX = names.LOGGER_APPLICATION_PREFIX
logger_application_name = names.logger_application_name
# The functions every role may execute: they compute, or read with the caller's rights.
PUBLIC_FUNCTIONS = {
    "_alert_text(integer)",
    "_dblink_mapping_version()",
    "_end_dead_jobs(text)",
    "_job_name(text)",
    "_live_backends()",
    "_require_interval(interval)",
    "_loggable_text(text)",
    "_require_text(text, text)",
    "_retention_applies(text)",
    "_running_jobs()",
    "_summary_window()",
}

_database_numbers = itertools.count(1)


class Cluster:
    """A running testgres node, with the helpers the tests need."""

    def __init__(self, node: testgres.PostgresNode, socket_dir: Path) -> None:
        self.node = node
        self.socket_dir = socket_dir

    @property
    def log_file(self) -> Path:
        return Path(self.node.logs_dir) / "postgresql.log"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        """An autocommit connection over TCP (node.host, node.port)."""
        kwargs.setdefault("host", self.node.host)
        kwargs.setdefault("user", "postgres")
        return psycopg.connect(dbname=dbname, port=self.node.port, autocommit=True, **kwargs)

    def create_template(self) -> None:
        with self.connect() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with self.connect(TEMPLATE) as conn:
            conn.execute(f"CREATE SCHEMA {SCHEMA}")
            conn.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")

    def new_database(self) -> str:
        name = f"test_{next(_database_numbers)}"
        with self.connect() as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def loggers(self, dbname: str) -> list[tuple[int, str]]:
        """(pid, application_name) of the logging connections into ``dbname``."""
        with self.connect(dbname) as conn:
            return conn.execute(
                "SELECT pid, application_name FROM pg_stat_activity"
                " WHERE datname = %s AND application_name LIKE %s ORDER BY pid",
                (dbname, LOGGER_PREFIX + "%"),
            ).fetchall()


def wait_until(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def scalar(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``query``."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r}"
    return row[0]


def sleeping_job(name: str) -> str:
    """A job that logs itself and a step, then works (sleeps) for a minute."""
    return f"""
    DO $$
    DECLARE
        v_job bigint := {SCHEMA}.add_job('{name}');
    BEGIN
        PERFORM {SCHEMA}.add_step(v_job, 'sleeping');
        PERFORM pg_sleep(60);
    END
    $$
"""


def runner_role(conn: psycopg.Connection, role: str) -> None:
    """Role ``role``, made unless it exists (roles are the cluster's, shared by every
    test), allowed to run pg_jobmon's functions in ``conn``'s database."""
    conn.execute(
        "DO $$ BEGIN"
        f" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN"
        f" CREATE ROLE {role} LOGIN; END IF; END $$"
    )
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {role}")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO {role}")


def add_job(conn: psycopg.Connection, name: str = "job") -> int:
    """Log a new job on ``conn``; its job_id."""
    return int(scalar(conn, f"SELECT {SCHEMA}.add_job(%s)", (name,)))


def steps(conn: psycopg.Connection, job_id: int) -> list[tuple[Any, ...]]:
    """(action, status, message) of a job's steps, in order."""
    return conn.execute(
        f"SELECT action, status, message FROM {SCHEMA}.job_detail WHERE job_id = %s"
        " ORDER BY step_id",
        (job_id,),
    ).fetchall()


def refusal(
    conn: psycopg.Connection,
    query: str,
    error: type[psycopg.Error],
    params: tuple[Any, ...] = (),
) -> str:
    """The primary message of the error of class ``error`` that ``query`` must raise."""
    with pytest.raises(error) as raised:
        conn.execute(query, params)
    return str(raised.value.diag.message_primary)


def run_client(cluster: Cluster, program: str, *arguments: str) -> str:
    """Run a PostgreSQL client program against ``cluster``; its output.

    The test fails on any error, and on anything written to stderr.
    """
    done = subprocess.run(
        [
            str(testgres.get_bin_path(program)),
            *("-h", cluster.node.host, "-p", str(cluster.node.port), "-U", "postgres"),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), f"{program} failed:\n{done.stderr}"
    return done.stdout


@contextlib.contextmanager
def in_background(
    conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()
) -> Iterator[Future[list[tuple[Any, ...]]]]:
    """Run ``query`` on ``conn`` in a thread, so the test can act while it runs.

    On the way out the block waits for the query to end, so a test never leaves a
    statement running behind it.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: conn.execute(query, params).fetchall())
        try:
            yield future
        finally:
            with contextlib.suppress(Exception):
                future.result(timeout=60)


def backend_state(conn: psycopg.Connection, pid: int) -> tuple[str | None, str | None]:
    """(state, wait_event_type) of the backend ``pid``, or (None, None) once it is gone."""
    row = conn.execute(
        "SELECT state, wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


@contextlib.contextmanager
def started_cluster(
    hba: list[str] | None = None, bin_dir: Path | None = None, **settings: Any
) -> Iterator[Cluster]:
    """A new cluster with a private socket directory; stopped and removed afterwards.

    ``bin_dir``: the server programs to run, when not those of pg_config.
    """
    with contextlib.ExitStack() as stack:
        base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jobmon-")))
        socket_dir = base / "sockets"
        socket_dir.mkdir()
        node = testgres.get_new_node(
            base_dir=str(base / "node"), bin_dir=None if bin_dir is None else str(bin_dir)
        )
        stack.callback(node.cleanup)
        node.init(initdb_params=["--encoding=UTF8", "--locale=C"])
        if hba is not None:
            (Path(node.data_dir) / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        node.append_conf(
            unix_socket_directories=str(socket_dir),
            log_line_prefix="%m [%p] %a: ",
            **settings,
        )
        node.start()  # node.cleanup(), called on the way out, stops it
        yield Cluster(node, socket_dir)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The run's cluster, with the template database ready."""
    with started_cluster() as running:
        running.create_template()
        yield running


@pytest.fixture
def db(cluster: Cluster) -> str:
    """A fresh database with pg_jobmon installed in schema jobmon."""
    return cluster.new_database()


@pytest.fixture
def conn(cluster: Cluster, db: str) -> Iterator[psycopg.Connection]:
    """A superuser connection to the test's database, in autocommit."""
    with cluster.connect(db) as connection:
        yield connection


@contextlib.contextmanager
def server_environment(**variables: str) -> Iterator[None]:
    """Environment variables that a cluster started inside the block inherits."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
