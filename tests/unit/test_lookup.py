"""Host names looked up before libpq connects, with the caller interruptible throughout."""

from __future__ import annotations

import time

import pytest

from plpython_src.lookup import LookupFailed, with_addresses

ADDRESSES = {"db1.example": ["192.0.2.1", "2001:db8::1"], "db2.example": ["192.0.2.2"]}


class Interrupted(Exception):
    """What the caller's interrupt check raises, as a cancel would."""


def table_resolver(name: str, port: str) -> list[str]:
    if name not in ADDRESSES:
        raise OSError("Name or service not known")
    return ADDRESSES[name]


def slow_resolver(name: str, port: str) -> list[str]:
    time.sleep(5)
    return ["192.0.2.9"]


def nothing_pending() -> None:
    return None


def test_socket_directories_and_addresses_need_no_lookup() -> None:
    keywords = {"host": "/run/sockets,192.0.2.7,::1", "port": "5432"}
    assert with_addresses(keywords, nothing_pending, 1, table_resolver) == keywords


def test_a_row_with_hostaddr_is_left_alone() -> None:
    keywords = {"host": "db1.example", "hostaddr": "192.0.2.50", "port": "5432"}
    assert with_addresses(keywords, nothing_pending, 1, table_resolver) == keywords


def test_each_address_of_a_name_becomes_a_host_entry_in_order() -> None:
    keywords = {"host": "/run/sockets,db1.example", "port": "5432,6543", "dbname": "app"}
    assert with_addresses(keywords, nothing_pending, 1, table_resolver) == {
        "host": "/run/sockets,db1.example,db1.example",
        "hostaddr": ",192.0.2.1,2001:db8::1",
        "port": "5432,6543,6543",
        "dbname": "app",
    }


def test_a_name_without_address_is_skipped_as_libpq_would() -> None:
    keywords = {"host": "gone.example,db2.example", "port": "5432"}
    looked_up = with_addresses(keywords, nothing_pending, 1, table_resolver)
    assert (looked_up["host"], looked_up["hostaddr"]) == ("db2.example", "192.0.2.2")
    with pytest.raises(LookupFailed, match=r'"gone\.example"'):
        with_addresses({"host": "gone.example", "port": "5432"}, nothing_pending, 1, table_resolver)


def test_a_slow_lookup_ends_at_the_callers_interrupt() -> None:
    polls = []

    def cancelled_after_three_polls() -> None:
        polls.append(1)
        if len(polls) == 3:
            raise Interrupted

    started = time.monotonic()
    with pytest.raises(Interrupted):
        with_addresses({"host": "slow.example"}, cancelled_after_three_polls, 60, slow_resolver)
    assert time.monotonic() - started < 1.5


def test_a_slow_lookup_ends_at_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(LookupFailed, match="timeout"):
        with_addresses({"host": "slow.example"}, nothing_pending, 0.3, slow_resolver)
    assert time.monotonic() - started < 1.5
