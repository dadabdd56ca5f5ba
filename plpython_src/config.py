"""Where the logging connection goes: dblink_mapping_jobmon's row over server defaults.

Pure functions, so that the rules can be tested without a server. The defaults come
from the server itself (its postmaster.pid and current database), so that pg_jobmon
works with no configuration on any port and socket directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from . import names

# dblink_mapping_jobmon's columns, and the libpq keyword each one sets.
MAPPING_KEYWORDS = {
    "username": "user",
    "pwd": "password",
    "host": "host",
    "hostaddr": "hostaddr",
    "port": "port",
    "target_session_attrs": "target_session_attrs",
}

# The logging session resolves names in pg_catalog only: it runs fixed, schema-qualified
# statements and must not pick up objects from anybody's schema. Its server probes TCP
# keepalives too, so that it ends when the caller's host is gone.
SESSION_OPTIONS = (
    "-c search_path=pg_catalog,pg_temp"
    " -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
)

# Over TCP, a connection whose server is gone (a failover, a lost network) fails by
# itself: keepalives probe an idle one, and unacknowledged data is given up on after
# tcp_user_timeout (milliseconds). libpq ignores them on unix sockets.
TCP_KEYWORDS = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}

# Wildcard listen addresses, and the loopback address that reaches them.
_LOOPBACK_FOR = {"*": "localhost", "0.0.0.0": "127.0.0.1", "::": "::1"}


class ServerAddress(NamedTuple):
    """How a client on this machine reaches this server, as its postmaster.pid says.

    (A NamedTuple: a dataclass would cost a session's first log call more to make.)
    """

    port: str
    socket_dir: str | None
    listen_address: str | None

    def default_host(self) -> str:
        """The unix socket directory if there is one, else a local TCP address."""
        if self.socket_dir:
            return self.socket_dir
        if self.listen_address:
            return _LOOPBACK_FOR.get(self.listen_address, self.listen_address)
        return "localhost"


def parse_postmaster_pid(text: str) -> ServerAddress:
    """Read the port, first socket directory and first listen address of postmaster.pid.

    Its lines are: pid, data directory, start time, port, socket directory, listen
    address, shared memory key, status (PostgreSQL 10 and later).
    """
    lines = text.split("\n")
    if len(lines) < 6 or not lines[3].strip():
        raise ValueError("postmaster.pid is too short to hold the port and addresses")
    return ServerAddress(
        port=lines[3].strip(),
        socket_dir=lines[4].strip() or None,
        listen_address=lines[5].strip() or None,
    )


def read_server_address(data_dir: Path) -> ServerAddress:
    """The address of the server whose data directory is ``data_dir``.

    A backend's working directory is its data directory, and it may read
    postmaster.pid whatever the role of the caller: unlike the setting
    unix_socket_directories, which needs pg_read_all_settings.
    """
    return parse_postmaster_pid((data_dir / "postmaster.pid").read_text())


def connection_keywords(
    mapping: Mapping[str, str | None] | None,
    server: ServerAddress,
    dbname: str,
    backend_pid: int,
    synchronous_commit: str | None = None,
    idle_timeout_ms: int | None = None,
) -> dict[str, str]:
    """libpq keywords for the logging connection of backend ``backend_pid``.

    A value set in the mapping row wins; empty strings count as unset, as NULLs do.
    Whatever is left unset is up to libpq (its defaults, environment, .pgpass).
    ``synchronous_commit`` is a value checked by settings.parse_synchronous_commit.
    ``idle_timeout_ms`` becomes the logging session's idle_session_timeout (0 too: a
    server-wide one must not close the connection without the caller's side knowing).
    """
    given = {
        keyword: value
        for column, keyword in MAPPING_KEYWORDS.items()
        if mapping is not None and (value := mapping.get(column))
    }
    keywords = {"dbname": dbname, "port": server.port}
    if "host" not in given and "hostaddr" not in given:
        keywords["host"] = server.default_host()
    keywords.update(given)
    keywords.update(TCP_KEYWORDS)
    keywords["application_name"] = names.logger_application_name(backend_pid)
    keywords["options"] = SESSION_OPTIONS
    if synchronous_commit is not None:
        keywords["options"] += f" -c synchronous_commit={synchronous_commit}"
    if idle_timeout_ms is not None:
        keywords["options"] += f" -c idle_session_timeout={int(idle_timeout_ms)}"
    keywords["client_encoding"] = "UTF8"
    return keywords


def describe(keywords: Mapping[str, str]) -> str:
    """The connection target for an error message: never the password."""
    shown = ("host", "hostaddr", "port", "dbname", "user")
    parts = [f"{key}={keywords[key]}" for key in shown if key in keywords]
    if "user" not in keywords:
        parts.append("user=(libpq default)")
    if "target_session_attrs" in keywords:
        parts.append(f"target_session_attrs={keywords['target_session_attrs']}")
    return " ".join(parts)
