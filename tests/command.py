"""Running the installed `pg_jobmon` command against a test cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import testgres
from fix_cluster import Cluster

# Connection settings of the environment running the tests, which must not leak into the
# command: each test says where it connects.
_LIBPQ_VARIABLES = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGOPTIONS",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
)


def command_path() -> Path:
    """The command as `make install` put it: beside the server's own programs."""
    return Path(testgres.get_bin_path("pg_jobmon"))


def command_environment(
    cluster: Cluster | None = None, dbname: str | None = None, **variables: str
) -> dict[str, str]:
    """This process's environment without libpq's variables, then those of ``cluster``
    (host, port, superuser, ``dbname``) and ``variables``."""
    environment = {
        name: value for name, value in os.environ.items() if name not in _LIBPQ_VARIABLES
    }
    if cluster is not None:
        environment.update(
            PGHOST=cluster.node.host, PGPORT=str(cluster.node.port), PGUSER="postgres"
        )
    if dbname is not None:
        environment["PGDATABASE"] = dbname
    environment.update(variables)
    return environment


def run_command(
    *arguments: str,
    environment: dict[str, str] | None = None,
    stdin: str = "",
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `pg_jobmon arguments...` to its end; its exit status and output."""
    return subprocess.run(
        [str(command_path()), *arguments],
        env=command_environment() if environment is None else environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
