"""Bad input gets a clear error and writes nothing; hostile text is stored exactly."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA

TABLES = ("job_log", "job_detail")


def log_contents(conn: psycopg.Connection) -> list[list[tuple[object, ...]]]:
    return [
        conn.execute(f"SELECT * FROM {SCHEMA}.{table} ORDER BY 1, 2").fetchall() for table in TABLES
    ]


@pytest.fixture
def job(conn: psycopg.Connection) -> tuple[int, int]:
    """A job with one step, to aim bad calls at."""
    row = conn.execute(
        f"SELECT j, {SCHEMA}.add_step(j, 'step') FROM {SCHEMA}.add_job('target') AS j"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


NULL_ARGUMENTS = [
    ("add_job(NULL)", "job name must not be null"),
    ("add_step(NULL, 'x')", "job id must not be null"),
    ("add_step({job}, NULL)", "step action must not be null"),
    ("update_step(NULL, 'OK', 'x')", "step id must not be null"),
    ("close_job(NULL)", "job id must not be null"),
    ("fail_job(NULL)", "job id must not be null"),
    ("fail_job({job}, NULL)", "alert code must not be null"),
]


@pytest.mark.parametrize(("call", "message"), NULL_ARGUMENTS)
def test_null_where_a_value_is_required(
    conn: psycopg.Connection, job: tuple[int, int], call: str, message: str
) -> None:
    before = log_contents(conn)
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as raised:
        conn.execute(f"SELECT {SCHEMA}." + call.format(job=job[0]))
    assert message in str(raised.value.diag.message_primary)
    assert log_contents(conn) == before


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_empty_job_name(conn: psycopg.Connection, name: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        conn.execute(f"SELECT {SCHEMA}.add_job(%s)", (name,))
    assert "job name must not be empty" in str(raised.value.diag.message_primary)
    assert log_contents(conn) == [[], []]


MISSING_IDS: list[tuple[str, type[psycopg.Error], str]] = [
    ("add_step(424242, 'x')", psycopg.errors.NoDataFound, "job id 424242 does not exist"),
    (
        "update_step(424242, 'OK', 'x')",
        psycopg.errors.NoDataFound,
        "step id 424242 does not exist",
    ),
    ("close_job(424242)", psycopg.errors.NoDataFound, "job id 424242 does not exist"),
    ("fail_job(424242)", psycopg.errors.NoDataFound, "job id 424242 does not exist"),
    (
        "fail_job({job}, 42)",
        psycopg.errors.InvalidParameterValue,
        "alert code 42 does not exist",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), MISSING_IDS)
def test_ids_that_do_not_exist(
    conn: psycopg.Connection,
    job: tuple[int, int],
    call: str,
    error: type[psycopg.Error],
    message: str,
) -> None:
    before = log_contents(conn)
    with pytest.raises(error) as raised:
        conn.execute(f"SELECT {SCHEMA}." + call.format(job=job[0]))
    assert message in str(raised.value.diag.message_primary)
    assert log_contents(conn) == before


HOSTILE = [
    'it\'s a "quoted" name',
    "back\\slash \\' \\\\ end\\",
    "x'); DROP TABLE jobmon.job_log; --",
    "$$; SELECT pg_terminate_backend(pg_backend_pid()); $$",
    "$python$ import os; os._exit(1) $python$",
    "\u00e9t\u00e9 \u65e5\u672c\u8a9e \u05e2\u05d1\u05e8\u05d9\u05ea \U0001f680",
    "line\nbreaks\r\nand\ttabs",
    "%s %(name)s {} {0} ?",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_exactly(conn: psycopg.Connection, text: str) -> None:
    row = conn.execute(
        f"SELECT j, {SCHEMA}.add_step(j, %s) FROM {SCHEMA}.add_job(%s) AS j", (text, text)
    ).fetchone()
    assert row is not None
    job_id, step_id = row
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, %s, %s)", (step_id, text, text))
    stored = conn.execute(
        f"SELECT l.job_name, d.action, d.status, d.message"
        f" FROM {SCHEMA}.job_log l JOIN {SCHEMA}.job_detail d USING (job_id)"
        " WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    expected_name = conn.execute("SELECT upper(%s)", (text,)).fetchone()
    assert stored == (expected_name[0] if expected_name else None, text, text, text)


def test_megabyte_texts_are_stored_exactly(conn: psycopg.Connection, job: tuple[int, int]) -> None:
    big = "".join(chr(0x20 + (i * 7919) % 0x5E) for i in range(1 << 20)) + "\u00e9"
    step = conn.execute(f"SELECT {SCHEMA}.add_step(%s, %s)", (job[0], big)).fetchone()
    assert step is not None
    conn.execute(f"SELECT {SCHEMA}.update_step(%s, %s, %s)", (step[0], "OK", big))
    stored = conn.execute(
        f"SELECT action = %s, message = %s, length(message) FROM {SCHEMA}.job_detail"
        " WHERE step_id = %s",
        (big, big, step[0]),
    ).fetchone()
    assert stored == (True, True, len(big))


def test_server_side_error_comes_back_with_its_cause(
    conn: psycopg.Connection, job: tuple[int, int]
) -> None:
    """A write the server refuses is the caller's error, and the session goes on."""
    varied = "".join(chr(0x4E00 + (i * 7919) % 0x5000) for i in range(5000))
    with pytest.raises(psycopg.errors.ProgramLimitExceeded) as raised:
        conn.execute(f"SELECT {SCHEMA}.add_job(%s)", (varied,))
    assert "index row requires" in str(raised.value.diag.message_primary)
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job[0],))
    assert conn.execute(f"SELECT count(*), max(status) FROM {SCHEMA}.job_log").fetchone() == (
        1,
        "OK",
    )
