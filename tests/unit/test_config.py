"""Where the logging connection goes, without a server."""

from __future__ import annotations

import pytest

from plpython_src.config import (
    SESSION_OPTIONS,
    TCP_KEYWORDS,
    ServerAddress,
    connection_keywords,
    describe,
    parse_postmaster_pid,
)

POSTMASTER_PID = (
    "4242\n/srv/pg/data\n1764000000\n6543\n/run/pg-sockets\n*\n  1234567  98765\nready\n"
)
SERVER = ServerAddress(port="6543", socket_dir="/run/pg-sockets", listen_address="*")


def test_postmaster_pid_gives_port_socket_and_listen_address() -> None:
    assert parse_postmaster_pid(POSTMASTER_PID) == SERVER


def test_postmaster_pid_without_sockets() -> None:
    text = POSTMASTER_PID.replace("/run/pg-sockets", "").replace("*", "10.1.2.3")
    server = parse_postmaster_pid(text)
    assert server.socket_dir is None
    assert server.default_host() == "10.1.2.3"


@pytest.mark.parametrize("text", ["", "4242\n/srv/pg/data\n", "1\n2\n3\n\n5\n6\n"])
def test_postmaster_pid_too_short(text: str) -> None:
    with pytest.raises(ValueError):
        parse_postmaster_pid(text)


@pytest.mark.parametrize(
    ("listen", "host"),
    [("*", "localhost"), ("0.0.0.0", "127.0.0.1"), ("::", "::1"), (None, "localhost")],
)
def test_wildcard_listen_address_is_reached_on_loopback(listen: str | None, host: str) -> None:
    assert ServerAddress("5432", None, listen).default_host() == host


def test_defaults_with_no_mapping_row() -> None:
    keywords = connection_keywords(None, SERVER, "appdb", 77)
    assert keywords == {
        "dbname": "appdb",
        "port": "6543",
        "host": "/run/pg-sockets",
        **TCP_KEYWORDS,
        "application_name": "pg_jobmon logger for backend 77",
        "options": SESSION_OPTIONS,
        "client_encoding": "UTF8",
    }
    assert SESSION_OPTIONS.startswith("-c search_path=pg_catalog,pg_temp ")
    assert "user" not in keywords and "password" not in keywords


def test_mapping_row_overrides_and_blank_values_are_unset() -> None:
    row = {"username": "writer", "pwd": "s3cret", "host": "", "hostaddr": None, "port": "5999"}
    keywords = connection_keywords(row, SERVER, "appdb", 77)
    assert keywords["user"] == "writer"
    assert keywords["password"] == "s3cret"
    assert keywords["port"] == "5999"
    assert keywords["host"] == "/run/pg-sockets"


@pytest.mark.parametrize("column", ["host", "hostaddr"])
def test_a_configured_address_replaces_the_socket(column: str) -> None:
    keywords = connection_keywords({column: "192.0.2.7"}, SERVER, "appdb", 1)
    assert keywords[column] == "192.0.2.7"
    assert keywords.get("host") != "/run/pg-sockets"


def test_mapping_row_cannot_change_the_fixed_session_settings() -> None:
    row = {"username": "u", "host": "h"}
    keywords = connection_keywords(row, SERVER, "appdb", 5)
    assert keywords["options"] == SESSION_OPTIONS
    assert keywords["dbname"] == "appdb"


def test_synchronous_commit_goes_into_the_session_options() -> None:
    keywords = connection_keywords(None, SERVER, "appdb", 5, synchronous_commit="off")
    assert keywords["options"] == SESSION_OPTIONS + " -c synchronous_commit=off"


@pytest.mark.parametrize("milliseconds", [600_000, 0])
def test_idle_timeout_goes_into_the_session_options(milliseconds: int) -> None:
    keywords = connection_keywords(None, SERVER, "appdb", 5, idle_timeout_ms=milliseconds)
    assert keywords["options"] == SESSION_OPTIONS + f" -c idle_session_timeout={milliseconds}"


def test_describe_never_shows_the_password() -> None:
    keywords = connection_keywords({"username": "w", "pwd": "hunter2"}, SERVER, "appdb", 1)
    text = describe(keywords)
    assert "hunter2" not in text
    assert text == "host=/run/pg-sockets port=6543 dbname=appdb user=w"
    assert describe({"host": "h"}) == "host=h user=(libpq default)"


def test_several_hosts_with_target_session_attrs() -> None:
    row = {"host": "/run/a,/run/b", "port": "5432,5433", "target_session_attrs": "read-write"}
    keywords = connection_keywords(row, SERVER, "appdb", 1)
    assert keywords["host"] == "/run/a,/run/b"
    assert keywords["port"] == "5432,5433"
    assert keywords["target_session_attrs"] == "read-write"
    text = describe(keywords)
    assert text == (
        "host=/run/a,/run/b port=5432,5433 dbname=appdb"
        " user=(libpq default) target_session_attrs=read-write"
    )
