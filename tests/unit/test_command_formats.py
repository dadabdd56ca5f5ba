"""The command's pure formats: Nagios plugin output and Prometheus' text format."""

from __future__ import annotations

import argparse

import pytest

from cli import metrics, nagios, prometheus
from cli.nagios import Problem

ALL_CLEAR = [Problem(1, "OK", None, "All jobs run successfully")]


def test_all_clear_is_ok_with_zero_counts() -> None:
    assert nagios.report(ALL_CLEAR, 0.0) == (
        0,
        "PG_JOBMON OK - All jobs run successfully | failed_run=0;;;0 missing=0;;;0"
        " running=0;;;0 blocked=0;;;0 warning=0;;;0 critical=0;;;0 oldest_missing=0s;;;0\n",
    )


def test_the_worst_problem_leads_and_every_problem_follows() -> None:
    rows = [
        Problem(3, "MISSING", "LOAD", "Last completed run: 2026-11-30 10:00:00+00"),
        Problem(2, "FAILED_RUN", "SYNC", "3 consecutive WARNING runs"),
        Problem(2, "BLOCKED", "VACUUM", "Job ID 7 is waiting for a lock"),
    ]
    status, output = nagios.report(rows, 3725.9)
    assert status == nagios.CRITICAL
    assert output.splitlines() == [
        "PG_JOBMON CRITICAL - LOAD (MISSING): Last completed run: 2026-11-30 10:00:00+00"
        " (and 2 more) | failed_run=1;;;0 missing=1;;;0 running=0;;;0 blocked=1;;;0"
        " warning=2;;;0 critical=1;;;0 oldest_missing=3725s;;;0",
        "CRITICAL: LOAD (MISSING): Last completed run: 2026-11-30 10:00:00+00",
        "WARNING: SYNC (FAILED_RUN): 3 consecutive WARNING runs",
        "WARNING: VACUUM (BLOCKED): Job ID 7 is waiting for a lock",
    ]


def test_an_unknown_age_is_u() -> None:
    rows = [Problem(3, "MISSING", "NEVER", "Has not completed a run")]
    assert nagios.performance_data(rows, None).endswith(" oldest_missing=U")


def test_names_cannot_break_the_format() -> None:
    rows = [Problem(2, "FAILED_RUN", "A|B\nC\tD", "x |y")]
    first = nagios.report(rows, 0)[1].splitlines()[0]
    assert first.startswith("PG_JOBMON WARNING - A/B C D (FAILED_RUN): x /y | ")
    assert first.count("|") == 1


@pytest.mark.parametrize("code", [0, 4])
def test_codes_other_than_1_to_3_are_unexpected(code: int) -> None:
    with pytest.raises(nagios.Unexpected):
        nagios.state_of([Problem(code, "FAILED_RUN", "X", "y")])
    with pytest.raises(nagios.Unexpected):
        nagios.state_of([])


def test_unknown_puts_the_reason_on_one_line_then_in_full() -> None:
    assert nagios.unknown("connection failed: refused\nIs the server running?") == (
        3,
        "PG_JOBMON UNKNOWN - connection failed: refused Is the server running?\n"
        "connection failed: refused\nIs the server running?\n",
    )
    assert nagios.unknown("timeout")[1] == "PG_JOBMON UNKNOWN - timeout\n"


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert prometheus.label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert prometheus.help_text('a\\b"c\nd') == 'a\\\\b"c\\nd'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (2.0, "2"),
        (0.25, "0.25"),
        (1764500000.5, "1764500000.5"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_numbers(value: float, text: str) -> None:
    assert prometheus.number(value) == text


def test_a_family_is_help_type_then_samples() -> None:
    assert prometheus.family(
        "pg_jobmon_x", "What x is.\nSecond line.", [({"job_name": 'A"B'}, 1), ({}, 2.5)]
    ) == (
        "# HELP pg_jobmon_x What x is.\\nSecond line.\n"
        "# TYPE pg_jobmon_x gauge\n"
        'pg_jobmon_x{job_name="A\\"B"} 1\n'
        "pg_jobmon_x 2.5\n"
    )


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # No address: the loopback one only, since the endpoint has no authentication.
        ("9187", ("127.0.0.1", 9187)),
        (":80", ("127.0.0.1", 80)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9187", ("::1", 9187)),
        ("0.0.0.0:9187", ("0.0.0.0", 9187)),
    ],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert metrics._address(text) == address


@pytest.mark.parametrize("text", ["", "host", "host:port", "1:70000", "-1"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        metrics._address(text)
