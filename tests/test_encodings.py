"""Databases whose encoding is not UTF8: logged text comes back byte for byte.

The logging connection talks UTF8 and the server converts to the database's encoding.
Text goes in and comes out here as the database's own bytes (convert_from and
convert_to), so nothing on the client side can hide a changed byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, scalar

# How each database spells the text that the tests log: characters beyond ASCII that
# the encoding has. SQL_ASCII stores bytes as given: here UTF-8 text.
TEXTS = {
    "LATIN1": "café Straße naïve ÿ ½ «x»".encode("latin-1"),
    "EUC_JP": "ジョブ 漢字の記録 ｶﾀｶﾅ 丂".encode("euc_jp"),
    "SQL_ASCII": "café Straße ジョブ 漢字 😀".encode(),
    "WIN1252": "café € „quoted“ Œuvre".encode("cp1252"),
}

# Text that is valid in the database but has no UTF-8 equivalent, which the logging
# connection needs, and how sql_step and sql_job log it: each such character as its
# bytes, written \xNN. The SQLSTATE of the refusal of the plain log calls.
UNCONVERTIBLE = {
    # Bytes that are not UTF-8 next to bytes that are: the UTF-8 is kept.
    "SQL_ASCII": (b"caf\xe9 caf\xc3\xa9", rb"caf\xe9 caf" + b"\xc3\xa9", "22021"),
    # A character of the user-defined area, after a kana.
    "EUC_JP": (b"\xa4\xab\xf5\xa1!", b"\xa4\xab" + rb"\xf5\xa1!", "22P05"),
    # A byte that WIN1252 leaves unassigned.
    "WIN1252": (b"x\x81y", rb"x\x81y", "22P05"),
}


@dataclass
class Encoded:
    """A connection to a database of ``encoding``, in that client encoding."""

    conn: psycopg.Connection
    encoding: str

    def value(self, query: str, *params: object) -> bytes:
        """The bytes of the text that ``query`` returns, in the database's encoding."""
        return bytes(
            scalar(self.conn, f"SELECT convert_to(({query}), %s)", (*params, self.encoding))
        )

    def call(self, function: str, *args: bytes | int) -> Any:
        """``SELECT jobmon.function(args)``: bytes arguments are text of this encoding."""
        placeholders = ", ".join(
            "convert_from(%s, %s)" if isinstance(arg, bytes) else "%s" for arg in args
        )
        params: list[object] = []
        for arg in args:
            params += [arg, self.encoding] if isinstance(arg, bytes) else [arg]
        return scalar(self.conn, f"SELECT {SCHEMA}.{function}({placeholders})", tuple(params))

    def step(self, step_id: object) -> tuple[bytes, bytes, bytes, bool]:
        """(action, status, message, whether it ended) of a step, as the database's bytes."""
        row = self.conn.execute(
            f"SELECT convert_to(action, %(e)s), convert_to(status, %(e)s),"
            f" convert_to(message, %(e)s), end_time IS NOT NULL"
            f" FROM {SCHEMA}.job_detail WHERE step_id = %(s)s",
            {"e": self.encoding, "s": step_id},
        ).fetchone()
        assert row is not None, f"no step {step_id}"
        return (bytes(row[0]), bytes(row[1] or b""), bytes(row[2] or b""), row[3])

    def job(self, job_id: object) -> tuple[bytes, bytes]:
        """(job_name, status) of a job, as the database's bytes."""
        row = self.conn.execute(
            f"SELECT convert_to(job_name, %(e)s), convert_to(status, %(e)s)"
            f" FROM {SCHEMA}.job_log WHERE job_id = %(j)s",
            {"e": self.encoding, "j": job_id},
        ).fetchone()
        assert row is not None, f"no job {job_id}"
        return (bytes(row[0]), bytes(row[1] or b""))

    def last_job(self) -> int:
        return int(scalar(self.conn, f"SELECT max(job_id) FROM {SCHEMA}.job_log"))

    def upper(self, text: bytes) -> bytes:
        """``text`` upper-cased by the database, as add_job does."""
        return self.value("SELECT upper(convert_from(%s, %s))", text, self.encoding)

    def quoted(self, prefix: bytes, text: bytes) -> bytes:
        """``prefix`` followed by quote_literal(text), as the database writes it."""
        return prefix + self.value(
            "SELECT quote_literal(convert_from(%s, %s))", text, self.encoding
        )

    def only_step(self, job_id: object) -> tuple[bytes, bytes, bytes, bool]:
        return self.step(
            scalar(
                self.conn, f"SELECT step_id FROM {SCHEMA}.job_detail WHERE job_id = %s", (job_id,)
            )
        )


_databases: dict[str, str] = {}


def _database(cluster: Cluster, encoding: str) -> str:
    """A database of ``encoding`` with pg_jobmon installed, made once per run."""
    if encoding not in _databases:
        name = f"encoded_{encoding.lower()}"
        with cluster.connect() as admin:
            admin.execute(
                f"CREATE DATABASE {name} ENCODING '{encoding}'"
                " LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
            )
            # Its errors would put text of its encoding in the run's server log, which
            # other tests read as UTF-8.
            admin.execute(f"ALTER DATABASE {name} SET log_min_messages = 'fatal'")
        with cluster.connect(name) as setup:
            setup.execute(f"CREATE SCHEMA {SCHEMA}")
            setup.execute(f"CREATE EXTENSION pg_jobmon SCHEMA {SCHEMA} CASCADE")
        _databases[encoding] = name
    return _databases[encoding]


def _connected(cluster: Cluster, encoding: str) -> Iterator[Encoded]:
    with cluster.connect(_database(cluster, encoding), client_encoding=encoding) as conn:
        yield Encoded(conn, encoding)


@pytest.fixture(params=sorted(TEXTS))
def encoded(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Encoded]:
    yield from _connected(cluster, request.param)


def test_log_calls_round_trip(encoded: Encoded) -> None:
    text = TEXTS[encoded.encoding]
    job_id = encoded.call("add_job", b"job " + text)
    assert encoded.value(
        f"SELECT job_name FROM {SCHEMA}.job_log WHERE job_id = %s", job_id
    ) == encoded.upper(b"job " + text)
    step_id = encoded.call("add_step", job_id, b"step " + text)
    encoded.call("update_step", step_id, text, b"message " + text)
    assert encoded.step(step_id) == (b"step " + text, text, b"message " + text, True)


@pytest.fixture(params=sorted(UNCONVERTIBLE))
def unconvertible(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Encoded]:
    yield from _connected(cluster, request.param)


def test_sql_step_and_sql_job_record_text_exactly(encoded: Encoded) -> None:
    text = TEXTS[encoded.encoding]
    encoded.conn.execute("CREATE TEMP TABLE kept (x text)")
    insert = b"INSERT INTO kept VALUES ('" + text + b"')"
    failing = b"DO $$BEGIN RAISE EXCEPTION 'failed: " + text + b"'; END$$"
    job_id = encoded.call("add_job", b"steps")
    assert encoded.call("sql_step", job_id, b"kept " + text, insert) is True
    assert encoded.only_step(job_id) == (b"kept " + text, b"OK", b"Rows affected: 1", True)
    assert encoded.value("SELECT x FROM kept") == text

    job_id = encoded.call("add_job", b"failing steps")
    assert encoded.call("sql_step", job_id, b"fails " + text, failing) is False
    assert encoded.only_step(job_id) == (
        b"fails " + text,
        b"CRITICAL",
        b"ERROR: failed: " + text,
        True,
    )

    for sql, status in ((insert, b"OK"), (failing, b"CRITICAL")):
        encoded.call("sql_job", b"sql job " + text, sql)
        job_id = encoded.last_job()
        assert encoded.job(job_id) == (encoded.upper(b"sql job " + text), status)
        assert encoded.only_step(job_id)[:2] == (encoded.quoted(b"Running sql: ", sql), status)
    assert encoded.only_step(job_id)[2] == b"ERROR: failed: " + text


def test_text_with_no_utf8_equivalent_is_refused_by_the_log_calls(
    unconvertible: Encoded,
) -> None:
    text, _, sqlstate = UNCONVERTIBLE[unconvertible.encoding]
    job_id = unconvertible.call("add_job", b"refusals")
    step_id = unconvertible.call("add_step", job_id, b"refusals")
    for function, args in [
        ("add_job", (text,)),
        ("add_step", (job_id, text)),
        ("update_step", (step_id, b"OK", text)),
    ]:
        with pytest.raises(psycopg.Error) as refused:
            unconvertible.call(function, *args)
        assert refused.value.sqlstate == sqlstate
        assert 'encoding "UTF8"' in str(refused.value.diag.message_primary)
    assert (
        scalar(
            unconvertible.conn,
            f"SELECT count(*) FROM {SCHEMA}.job_log WHERE job_id > %s",
            (job_id,),
        )
        == 0
    )
    assert unconvertible.step(step_id) == (b"refusals", b"", b"", False)


def test_sql_step_logs_an_error_with_no_utf8_equivalent_escaped(unconvertible: Encoded) -> None:
    """The step is closed and sql_step returns false, as for any failed statement."""
    text, escaped, _ = UNCONVERTIBLE[unconvertible.encoding]
    for sql, message in [
        (b"DO $$BEGIN RAISE EXCEPTION 'failed: " + text + b"'; END$$", b"failed: " + escaped),
        (b'SELECT * FROM "' + text + b'"', b'relation "' + escaped + b'" does not exist'),
    ]:
        job_id = unconvertible.call("add_job", b"escaped")
        assert unconvertible.call("sql_step", job_id, b"fails", sql) is False
        assert unconvertible.only_step(job_id) == (
            b"fails",
            b"CRITICAL",
            b"ERROR: " + message,
            True,
        )


def test_sql_job_runs_sql_with_no_utf8_equivalent_and_logs_it_escaped(
    unconvertible: Encoded,
) -> None:
    text, escaped, _ = UNCONVERTIBLE[unconvertible.encoding]
    unconvertible.conn.execute("CREATE TEMP TABLE kept (x text)")
    insert = b"INSERT INTO kept VALUES ('%s')"
    result = unconvertible.call("sql_job", b"escaped sql", insert.replace(b"%s", text))
    job_id = unconvertible.last_job()
    assert str(result if isinstance(result, str) else bytes(result).decode()) == (
        f"Job logged with job id: {job_id}"
    )
    assert unconvertible.value("SELECT x FROM kept") == text
    assert unconvertible.job(job_id) == (b"ESCAPED SQL", b"OK")
    assert unconvertible.only_step(job_id) == (
        unconvertible.quoted(b"Running sql: ", insert.replace(b"%s", escaped)),
        b"OK",
        b"Rows affected: 1",
        True,
    )


def test_job_log_clear_logs_its_error_escaped(unconvertible: Encoded) -> None:
    """The clearing job ends as failed, with the error that stopped it."""
    text, escaped, _ = UNCONVERTIBLE[unconvertible.encoding]
    conn = unconvertible.conn
    conn.execute(
        b"CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql"
        b" AS $$BEGIN RAISE EXCEPTION 'kept: " + text + b"'; END$$"
    )
    conn.execute(
        f"CREATE TRIGGER refuse BEFORE DELETE ON {SCHEMA}.job_detail FOR EACH ROW"
        " EXECUTE FUNCTION pg_temp.refuse()"
    )
    try:
        old_job = unconvertible.call("add_job", b"old")
        unconvertible.call("add_step", old_job, b"old step")
        unconvertible.call("close_job", old_job)
        with pytest.raises(psycopg.errors.RaiseException):
            conn.execute(f"SELECT {SCHEMA}.job_log_clear('0 seconds')")
    finally:
        conn.execute(f"DROP TRIGGER refuse ON {SCHEMA}.job_detail")
    job_id = unconvertible.last_job()
    assert unconvertible.job(job_id)[1] == b"CRITICAL"
    assert unconvertible.only_step(job_id)[1:] == (b"CRITICAL", b"ERROR: kept: " + escaped, True)
