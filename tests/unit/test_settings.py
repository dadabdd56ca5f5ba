"""pg_jobmon's settings read as PostgreSQL reads its own, without a server."""

from __future__ import annotations

import pytest

from plpython_src.errors import JobmonError
from plpython_src.settings import (
    IDLE_TIMEOUT,
    IDLE_TIMEOUT_DEFAULT,
    LOCK_TIMEOUT,
    SYNCHRONOUS_COMMIT,
    WAIT_FOR_WRITES,
    parse_boolean,
    parse_duration,
    parse_idle_timeout,
    parse_synchronous_commit,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("2000", 2.0),
        ("500ms", 0.5),
        (" 1.5 min ", 90.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("250us", 0.00025),
        ("0", 0.0),
        (".5s", 0.5),
    ],
)
def test_numbers_with_postgresql_time_units(text: str, seconds: float) -> None:
    assert parse_duration(LOCK_TIMEOUT, text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "10 seconds", "-1s", "1e3", "s", "", "10S"])
def test_anything_else_is_refused_with_the_units_it_takes(text: str) -> None:
    with pytest.raises(JobmonError) as raised:
        parse_duration(LOCK_TIMEOUT, text)
    assert raised.value.message == f'invalid value for parameter "{LOCK_TIMEOUT}": "{text}"'
    assert raised.value.sqlstate == "22023"
    assert raised.value.hint is not None and '"min"' in raised.value.hint


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("off", "off"),
        ("OFF", "off"),
        (" false ", "off"),
        ("0", "off"),
        ("on", "on"),
        ("yes", "on"),
        ("local", "local"),
        ("remote_write", "remote_write"),
        ("Remote_Apply", "remote_apply"),
    ],
)
def test_synchronous_commit_takes_postgresql_spellings(text: str, value: str) -> None:
    assert parse_synchronous_commit(text) == value


@pytest.mark.parametrize("text", ["", "maybe", "of", "on; DROP TABLE x", "off -c fsync=off"])
def test_synchronous_commit_refuses_anything_else(text: str) -> None:
    with pytest.raises(JobmonError) as raised:
        parse_synchronous_commit(text)
    assert raised.value.message == f'invalid value for parameter "{SYNCHRONOUS_COMMIT}": "{text}"'
    assert raised.value.sqlstate == "22023"
    assert raised.value.hint is not None and "remote_apply" in raised.value.hint


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        (IDLE_TIMEOUT_DEFAULT, 600_000),
        ("0", 0),
        ("1s", 1000),
        ("1000", 1000),
        ("1.5min", 90_000),
        ("2147483647ms", 2_147_483_647),
    ],
)
def test_idle_timeout_in_milliseconds(text: str, milliseconds: int) -> None:
    assert parse_idle_timeout(text) == milliseconds


@pytest.mark.parametrize("text", ["999ms", "500us", "25d", "2147483648"])
def test_idle_timeout_out_of_range_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(JobmonError) as raised:
        parse_idle_timeout(text)
    assert raised.value.message == f'invalid value for parameter "{IDLE_TIMEOUT}": "{text}"'
    assert raised.value.sqlstate == "22023"
    assert raised.value.detail == "The value must be 0 (no timeout) or between 1s and 2147483647ms."


@pytest.mark.parametrize("text", ["later", "-1s", "10 minutes"])
def test_idle_timeout_that_is_no_time_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(JobmonError) as raised:
        parse_idle_timeout(text)
    assert raised.value.message == f'invalid value for parameter "{IDLE_TIMEOUT}": "{text}"'
    assert raised.value.hint is not None and '"min"' in raised.value.hint


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("off", False),
        ("False", False),
        ("no", False),
        ("0", False),
    ],
)
def test_wait_for_writes_takes_postgresql_booleans(text: str, value: bool) -> None:
    assert parse_boolean(WAIT_FOR_WRITES, text) is value


@pytest.mark.parametrize("text", ["", "maybe", "2", "of", "on off"])
def test_wait_for_writes_refuses_anything_else(text: str) -> None:
    with pytest.raises(JobmonError) as raised:
        parse_boolean(WAIT_FOR_WRITES, text)
    assert raised.value.message == f'parameter "{WAIT_FOR_WRITES}" requires a Boolean value'
    assert raised.value.sqlstate == "22023"
