"""The benchmark's throwaway cluster: durable settings, no statement logging.

Made like the tests' clusters (tests/fix_cluster.py), whose testgres defaults (fsync
off, every statement logged) suit tests but not timing: here commits are flushed as on
a real server, and nothing is logged per statement, so that both workloads pay what they
pay in production.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import testgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fix_cluster import server_environment, started_cluster
from old_release import installation_with_release

SCHEMA = "jobmon"
DBNAME = "bench"

HELPERS = Path(__file__).with_name("functions.sql")
# The variable psycopg reads, when a backend first imports it, to choose its implementation.
PSYCOPG_IMPL = "PSYCOPG_IMPL"

SETTINGS: dict[str, Any] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "log_statement": "none",
    "log_min_duration_statement": -1,
    "max_connections": 100,
    "shared_buffers": "256MB",
}


@dataclass(frozen=True)
class BenchCluster:
    """A running cluster with pg_jobmon installed in database ``bench``."""

    node: testgres.PostgresNode
    socket_dir: Path
    # PSYCOPG_IMPL the server was started with (None: psycopg takes the best installed).
    psycopg_impl: str | None = None

    dbname = DBNAME

    @property
    def port(self) -> int:
        return int(self.node.port)

    @property
    def bindir(self) -> Path:
        return Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """An autocommit connection over the unix socket, as the cluster's superuser."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            dbname=self.dbname,
            user="postgres",
            autocommit=True,
            **kwargs,
        )

    def restart(self, psycopg_impl: str | None) -> None:
        """Restart the server with PSYCOPG_IMPL set to ``psycopg_impl`` (None: unset).

        The backends started after it import psycopg anew and pick their implementation
        from the postmaster's environment, which pg_ctl passes on from ours.
        """
        saved = os.environ.get(PSYCOPG_IMPL)
        _set_psycopg_impl(psycopg_impl)
        try:
            self.node.restart()
        finally:
            _set_psycopg_impl(saved)

    def scalar(self, query: str) -> Any:
        """The single value of ``query``, run in a session of its own."""
        with self.connect() as conn:
            row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


@contextlib.contextmanager
def bench_cluster(psycopg_impl: str | None) -> Iterator[BenchCluster]:
    """A new cluster for the benchmark, removed afterwards.

    ``psycopg_impl`` (python, c, binary) is put in the server's environment, where
    psycopg reads it (PSYCOPG_IMPL) when a backend first imports it.
    """
    environment = {PSYCOPG_IMPL: psycopg_impl} if psycopg_impl else {}
    with contextlib.ExitStack() as stack:
        # A copy of the server's installation that also offers 1.5.0 (the tests' one),
        # for the break-even against it; the same programs, so the same speed.
        installation = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        bin_dir = installation_with_release(installation / "installation")
        stack.enter_context(server_environment(**environment))
        running = stack.enter_context(started_cluster(bin_dir=bin_dir, **SETTINGS))
        cluster = BenchCluster(running.node, running.socket_dir, psycopg_impl)
        with running.connect() as conn:
            conn.execute(f"CREATE DATABASE {DBNAME}")
        with cluster.connect() as conn:
            conn.execute(f"CREATE SCHEMA {SCHEMA}")
            conn.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
            conn.execute(HELPERS.read_text())
        yield cluster


def _set_psycopg_impl(value: str | None) -> None:
    if value is None:
        os.environ.pop(PSYCOPG_IMPL, None)
    else:
        os.environ[PSYCOPG_IMPL] = value
