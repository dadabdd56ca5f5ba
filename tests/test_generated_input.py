"""Generated bad input for every public function: it works or fails clearly, never half-way.

Each public function of the extension is called with generated arguments: NULLs, empty
and blank strings, megabyte and binary-looking text, ids of real jobs and steps mixed with
ids that do not exist or do not fit a bigint, odd and out-of-range intervals, and, for
sql_step and sql_job, hostile statement text. Every call is made with explicit casts, so
that a value that does not fit is the cast's own error. After every call, whatever its
outcome, the test checks that

- an error is a clear one: a SQLSTATE outside classes XX (internal error), 38 and 39
  (external routine), and a message that shows no Python traceback or exception class;
- the log is whole: a failed add_job, add_step, update_step, close_job, fail_job or
  cancel_job changed no row, and a successful one changed only its own row; the show and
  check functions changed nothing; sql_step closed any step it opened, and sql_job and
  job_log_clear ended any job they started and closed its steps; no step names a missing
  job; no session-level advisory lock of sql_job outlives the call.

Environment, for a longer hunt: PG_JOBMON_GENERATED_EXAMPLES sets the number of examples
per function, and PG_JOBMON_GENERATED_RANDOM=1 draws new examples on every run instead of
the same reproducible ones.
"""

from __future__ import annotations

import array
import functools
import os
import random
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Union

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, scalar
from hypothesis import HealthCheck, currently_in_test_context, event, given, note, settings
from hypothesis import strategies as st
from psycopg.pq import TransactionStatus

# Even with no example database, Hypothesis caches Unicode tables and constants in
# ./.hypothesis: keep them out of the source tree.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    os.path.join(tempfile.gettempdir(), f"pg_jobmon-hypothesis-{os.getuid()}"),
)
EXAMPLES = int(os.environ.get("PG_JOBMON_GENERATED_EXAMPLES", "50"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("PG_JOBMON_GENERATED_RANDOM") != "1",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STATEMENT_TIMEOUT = "5s"

# -- Values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """The id of a job or step made for the example, known only once it is made."""

    key: str

    def __repr__(self) -> str:
        return f"<{self.key}>"


@dataclass(frozen=True)
class Big:
    """A long text, made when the call is; its repr stays short in failure reports."""

    kind: str
    size: int
    seed: int

    def __repr__(self) -> str:
        return f"<{self.kind} text of {self.size} characters, seed {self.seed}>"

    def text(self) -> str:
        return _big_text(self.kind, self.size, self.seed)


REPEATED_UNITS = ("a", "\u00e9", "\u65e5\u672c", "\U0001f680", "'", "\\", "$$", " ", "%s")


@functools.lru_cache(maxsize=8)
def _big_text(kind: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    if kind == "repeated":
        unit = rng.choice(REPEATED_UNITS)
        return (unit * (size // len(unit) + 1))[:size]
    if kind == "latin-1":
        # Arbitrary bytes read as latin-1: every code point below 256 but NUL.
        return rng.randbytes(size).replace(b"\x00", b"\x01").decode("latin-1")
    # Varied CJK characters: three bytes each, and they do not compress.
    codes = array.array("H", rng.randbytes(2 * size))
    return "".join(chr(0x4E00 + code % 0x5000) for code in codes)


Value = Union[None, int, str, timedelta, Ref, Big]


def either(
    one: st.SearchStrategy[Value], other: st.SearchStrategy[Value]
) -> st.SearchStrategy[Value]:
    """Half the time ``one``, half the time ``other``.

    st.one_of would not do: it flattens the branches of a nested one_of into a single
    choice, so a lone branch next to a one_of of six is picked once in seven.
    """
    return st.booleans().flatmap(lambda first: one if first else other)


# Everything psycopg passes on: it refuses NUL, and surrogates cannot be encoded.
CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")

BLANKS = ("", " ", "\t\r\n", "\u3000", "\u00a0", "\x1f", "\u2028")
HOSTILE_TEXT = (
    'it\'s a "quoted" name',
    "back\\slash \\' \\\\ end\\",
    "x'); DROP TABLE jobmon.job_log; --",
    "$$; SELECT pg_terminate_backend(pg_backend_pid()); $$",
    "$python$ import os; os._exit(1) $python$",
    "%s %(name)s {} {0} ?",
    "\\x00 \\u0000 \\0",
    "\ufeffbom \u202eright-to-left\u202c \u200bzero width",
    "line\nbreaks\r\nand\ttabs",
    "\U0010ffff\ufffe\uffff",
    "NULL",
)
JOB_NAMES = ("gen target", "GEN TARGET", "gen ended", "gen failed", "GEN ORPHAN", "gen live")


def text_values(sizes: tuple[int, ...]) -> st.SearchStrategy[Value]:
    """Texts of every sort; the long ones have one of ``sizes`` characters."""
    return st.one_of(
        st.none(),
        st.sampled_from(BLANKS),
        st.text(CHARACTERS, max_size=40),
        st.binary(max_size=80).map(lambda raw: raw.replace(b"\x00", b"").decode("latin-1")),
        st.sampled_from(HOSTILE_TEXT),
        st.builds(
            Big,
            kind=st.sampled_from(("repeated", "latin-1", "cjk")),
            size=st.sampled_from(sizes),
            seed=st.integers(0, 1 << 16),
        ),
    )


texts = text_values((3000, 1 << 20))
names: st.SearchStrategy[Value] = st.one_of(texts, st.sampled_from(JOB_NAMES))
statuses: st.SearchStrategy[Value] = st.one_of(
    texts, st.sampled_from(("OK", "CRITICAL", "WARNING", "ESCALATED", "ok"))
)
# Compiling a regular expression of a megabyte takes PostgreSQL up to minutes, whoever
# calls it: show_job_like gets patterns of a few thousand characters at most.
patterns: st.SearchStrategy[Value] = st.one_of(
    text_values((3000,)),
    st.sampled_from(JOB_NAMES),
    st.sampled_from(
        (
            "(",
            "[",
            "a{2,1}",
            "\\",
            "*",
            "(?i)x",
            "^GEN",
            ".*",
            "(a*)*b",
            "[[:nope:]]",
            "\\d+",
            "x{1000}{1000}",
            "(((((((((((x)))))))))))\\12",
            "***:a",
        )
    ),
)

ID_KEYS = (
    "target_job",
    "target_step",
    "ended_job",
    "ended_step",
    "failed_job",
    "orphan_job",
    "live_job",
)
# Ids that name nothing, or no bigint at all.
bad_ids: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.sampled_from((0, -1, 1, 2**31, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**40)),
    st.integers(),
    st.sampled_from((" 1 ", "+1", "1e3", "0x10", "1.5", "", "NaN", "\u0661", "--1", "1_000")),
    st.text(CHARACTERS, max_size=12),
)
# Half of the ids are real ones, of every kind of job and step (a job id where a step id
# belongs, too).
ids = either(st.sampled_from([Ref(key) for key in ID_KEYS]), bad_ids)

integers: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.integers(-3, 12),
    st.sampled_from((0, -1, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**63)),
    st.integers(),
    st.sampled_from(("3", " 2 ", "2.5", "1e1", "x", "")),
)
intervals: st.SearchStrategy[Value] = st.one_of(
    st.none(),
    st.sampled_from(
        (
            "0",
            "-1 day",
            "1 microsecond",
            "-1 microsecond",
            "1 day -25 hours",
            "1 mon -31 days",
            "1 day",
            "5000 years",
            "300000 years",
            "178000000 years",
            "-178000000 years",
            "178000001 years",
            "2147483647 days",
            "2147483647 months",
            "infinity",
            "",
            "1 fortnight",
            "P1Y2M3DT4H",
            "@ 1 minute ago",
            "00:00:00.000001",
            "1e308 seconds",
        )
    ),
    st.timedeltas(),
    st.text(CHARACTERS, max_size=20),
)

VALID_SQL = (
    "SELECT 1",
    "SELECT generate_series(1, 3)",
    "VALUES (1), (2)",
    "DO $$BEGIN END$$",
    "  select 1  ;  ",
    "SELECT pg_sleep(0.001)",
    "CREATE TEMP TABLE IF NOT EXISTS gen_scratch (n integer)",
    "SET search_path = nowhere",
    "NOTIFY gen_channel",
)
FAILING_SQL = (
    "SELECT 1/0",
    "SELEC 1",
    "SELECT * FROM gen_no_such_table",
    "SELECT $1",
    "SELECT 1; SELECT 1/0",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT gen",
    "VACUUM",
    "DISCARD ALL",
    "CREATE DATABASE gen_never",
    "COPY (SELECT 1) TO STDOUT",
    "DO $$BEGIN RAISE EXCEPTION 'internal-looking' USING ERRCODE = 'XX000'; END$$",
    "DO $$BEGIN RAISE EXCEPTION 'external-looking' USING ERRCODE = '38000'; END$$",
    "DO $$BEGIN RAISE division_by_zero; END$$",
)
# Statements that end in the errors PL/pgSQL's WHEN OTHERS does not catch.
ASSERTING_SQL = "DO $$BEGIN ASSERT false, 'gen assertion'; END$$"
CANCELLING_SQL = "SELECT pg_cancel_backend(pg_backend_pid())"
STOPPING_SQL = (ASSERTING_SQL, CANCELLING_SQL)

# Half of the statements are from the lists above, the rest arbitrary text; the ones
# that escape WHEN OTHERS are an eighth of all.
statements: st.SearchStrategy[Value] = either(
    either(st.sampled_from(STOPPING_SQL), st.sampled_from(VALID_SQL + FAILING_SQL)),
    either(
        texts,
        st.tuples(
            st.sampled_from(("SELECT ", "UPDATE ", "DELETE FROM ", "DO $$", "CREATE ", "WITH ")),
            st.text(CHARACTERS, max_size=30),
        ).map("".join),
    ),
)


@dataclass(frozen=True)
class Function:
    """A public function: its signature as pg_proc prints it, and what to call it with."""

    signature: str
    arguments: tuple[st.SearchStrategy[Value], ...]
    defaults: int = 0

    @property
    def name(self) -> str:
        return self.signature.split("(", 1)[0]

    @property
    def types(self) -> list[str]:
        inside = self.signature.split("(", 1)[1].rstrip(")")
        return inside.split(",") if inside else []

    def calls(self) -> st.SearchStrategy[tuple[Value, ...]]:
        """Argument lists, leaving out some or all of the defaulted trailing ones."""
        return st.tuples(st.tuples(*self.arguments), st.integers(0, self.defaults)).map(
            lambda drawn: drawn[0][: len(drawn[0]) - drawn[1]]
        )


FUNCTIONS = {
    function.signature: function
    for function in (
        Function("add_job(text)", (names,)),
        Function("add_step(bigint,text)", (ids, texts)),
        Function("update_step(bigint,text,text)", (ids, statuses, texts)),
        Function("close_job(bigint)", (ids,)),
        Function("fail_job(bigint,integer)", (ids, integers), defaults=1),
        Function("sql_step(bigint,text,text)", (ids, texts, statements)),
        Function("sql_job(text,text)", (names, statements)),
        Function("cancel_job(bigint)", (ids,)),
        Function("job_log_clear(interval)", (intervals,)),
        Function("show_job(text,integer)", (names, integers), defaults=1),
        Function("show_job_like(text,integer)", (patterns, integers), defaults=1),
        Function("show_job_status(text,integer)", (statuses, integers), defaults=1),
        Function("show_job_status(text,text,integer)", (names, statuses, integers), defaults=1),
        Function("show_detail(bigint)", (ids,)),
        Function("show_detail(text,integer)", (names, integers), defaults=1),
        Function("show_running(integer)", (integers,), defaults=1),
        Function("check_job_status()", ()),
        Function("check_job_status(interval)", (intervals,)),
        Function(
            "fail_job_with_error(bigint,bigint,text,text,text,text,text,integer)",
            (ids, ids, texts, texts, texts, texts, texts, integers),
            defaults=4,
        ),
    )
}
WRITERS = {"add_job", "add_step", "update_step", "close_job", "fail_job"}
READERS = {"show_job", "show_job_like", "show_job_status", "show_detail", "show_running"}
READERS |= {"check_job_status"}

# An optional job_check_config row for check_job_status: name, thresholds, active,
# sensitivity, escalate.
configs = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(("GEN TARGET", "GEN ENDED", "GEN FAILED", "GEN LIVE", "GEN NEVER")),
        intervals,
        intervals,
        st.booleans(),
        st.one_of(st.integers(-2, 3), st.integers(-(2**15), 2**15 - 1)),
        st.one_of(st.none(), st.integers(-1, 3)),
    ),
)

# -- The log and its invariants -----------------------------------------------------------


@dataclass(frozen=True)
class LogState:
    """Every row of the log, by key, as a hash of its whole contents (a job's but
    remote_session, which ``moved`` tells)."""

    jobs: dict[int, str]
    running_jobs: frozenset[int]
    moved: frozenset[int]
    steps: dict[int, str]
    open_steps: frozenset[int]
    step_jobs: dict[int, int]
    checks: tuple[str, ...]


def log_state(conn: psycopg.Connection) -> LogState:
    rows = conn.execute(
        f"SELECT 'job', job_id,"
        f" md5((job_id, owner, job_name, start_time, end_time, status, pid)::text),"
        f" status IS NULL, NULL::bigint"
        f" FROM {SCHEMA}.job_log AS j"
        f" UNION ALL SELECT 'moved', job_id, NULL, false, NULL"
        f" FROM {SCHEMA}.job_log WHERE remote_session"
        f" UNION ALL SELECT 'step', step_id, md5(d::text),"
        f"  end_time IS NULL OR status IS NULL, job_id FROM {SCHEMA}.job_detail AS d"
        f" UNION ALL SELECT 'check', job_id, md5(c::text), false, NULL"
        f" FROM {SCHEMA}.job_check_log AS c"
    ).fetchall()
    return LogState(
        jobs={key: digest for kind, key, digest, _, _ in rows if kind == "job"},
        running_jobs=frozenset(key for kind, key, _, flag, _ in rows if kind == "job" and flag),
        moved=frozenset(key for kind, key, _, _, _ in rows if kind == "moved"),
        steps={key: digest for kind, key, digest, _, _ in rows if kind == "step"},
        open_steps=frozenset(key for kind, key, _, flag, _ in rows if kind == "step" and flag),
        step_jobs={key: job for kind, key, _, _, job in rows if kind == "step"},
        checks=tuple(sorted(digest for kind, _, digest, _, _ in rows if kind == "check")),
    )


@dataclass(frozen=True)
class Change:
    """Which keys of one table a call added, removed or rewrote."""

    added: frozenset[int]
    removed: frozenset[int]
    changed: frozenset[int]

    @property
    def none(self) -> bool:
        return not (self.added or self.removed or self.changed)


def change(before: dict[int, str], after: dict[int, str]) -> Change:
    return Change(
        added=frozenset(after.keys() - before.keys()),
        removed=frozenset(before.keys() - after.keys()),
        changed=frozenset(k for k in before.keys() & after.keys() if before[k] != after[k]),
    )


# What a PL/Python failure looks like when it leaks: a traceback, or a Python exception
# class named in the message. pg_jobmon's own errors start with "plpy.Error: ", which
# is PL/Python's way of raising them, not a leak.
PYTHON_LEAK = re.compile(
    r"Traceback|File \"|line \d+, in |\b[A-Z][A-Za-z]*(?:Error|Exception)\b|<module>"
)
UNCLEAR_CLASSES = {"XX": "internal error", "38": "external routine", "39": "external routine"}


def assert_clear(error: psycopg.Error, params: Sequence[object]) -> None:
    """``error`` is an ordinary, explained refusal, not a crash of pg_jobmon."""
    sqlstate = error.sqlstate
    assert sqlstate is not None, f"not an error from the server: {error!r}"
    assert sqlstate[:2] not in UNCLEAR_CLASSES, (
        f"SQLSTATE {sqlstate} ({UNCLEAR_CLASSES[sqlstate[:2]]}): {error.diag.message_primary}"
    )
    primary = error.diag.message_primary or ""
    assert primary.strip(), f"SQLSTATE {sqlstate} with an empty message"
    inputs = " ".join(p for p in params if isinstance(p, str))
    for part in (primary.removeprefix("plpy.Error: "), error.diag.message_detail or ""):
        for leak in PYTHON_LEAK.finditer(part):
            assert leak.group() in inputs, f"Python internals in the error: {part[:500]!r}"
    hint = error.diag.message_hint or ""
    assert not [leak for leak in PYTHON_LEAK.findall(hint) if leak not in inputs], hint[:500]


@dataclass
class Outcome:
    """What a call returned, or the error it raised."""

    rows: list[tuple[Any, ...]] | None
    error: psycopg.Error | None


class Bench:
    """The test's session, and the jobs and steps each example aims its calls at."""

    def __init__(self, conn: psycopg.Connection, live_pid: int, dead_pid: int) -> None:
        self.conn = conn
        self.live_pid = live_pid
        self.dead_pid = dead_pid
        self.refs: dict[str, int] = {}
        conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")

    def one(self, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        row = self.conn.execute(query, params).fetchone()
        assert row is not None, query
        return tuple(row)

    def seed(self) -> None:
        """An empty log, then: a running job with an open step (this session's), an ended
        job with a closed step, a failed job, a job whose session is gone and one whose
        session is alive but idle."""
        for table in ("job_log", "job_check_log", "job_check_config"):
            self.conn.execute(f"DELETE FROM {SCHEMA}.{table}")
        # A lock that an earlier example failed to let go of must not fail this one.
        self.conn.execute("SELECT pg_advisory_unlock_all()")
        s = SCHEMA
        target, target_step = self.one(
            f"SELECT t, {s}.add_step(t, 'gen running step') FROM {s}.add_job('gen target') AS t"
        )
        ended, ended_step = self.one(
            f"SELECT e, {s}.add_step(e, 'gen ended step') FROM {s}.add_job('gen ended') AS e"
        )
        self.conn.execute(f"SELECT {s}.update_step(%s, 'OK', 'done')", (ended_step,))
        self.conn.execute(f"SELECT {s}.close_job(%s)", (ended,))
        (failed,) = self.one(f"SELECT {s}.add_job('gen failed')")
        self.conn.execute(f"SELECT {s}.fail_job(%s)", (failed,))
        # The rows add_job would write for those sessions, written here directly: the
        # dead session started before the job (its pid may have been reused since).
        insert = (
            f"INSERT INTO {s}.job_log (owner, job_name, start_time, pid)"
            " VALUES (current_user, %s, now() - %s::interval, %s) RETURNING job_id"
        )
        (orphan,) = self.one(insert, ("GEN ORPHAN", "1 hour", self.dead_pid))
        (live,) = self.one(insert, ("GEN LIVE", "0", self.live_pid))
        self.refs = {
            "target_job": target,
            "target_step": target_step,
            "ended_job": ended,
            "ended_step": ended_step,
            "failed_job": failed,
            "orphan_job": orphan,
            "live_job": live,
        }

    def configure(self, config: tuple[Value, ...] | None) -> None:
        """Add a job_check_config row, if the drawn one is one the table accepts."""
        if config is None:
            return
        values = [self.resolve(value) for value in config]
        try:
            with self.conn.transaction():
                self.conn.execute(
                    f"INSERT INTO {SCHEMA}.job_check_config"
                    " (job_name, warn_threshold, error_threshold, active, sensitivity, escalate)"
                    " VALUES (%s, %s::interval, %s::interval, %s, %s::smallint, %s::integer)",
                    values,
                )
        except psycopg.Error as refused:
            note(f"job_check_config refused the row: {refused.diag.message_primary}")

    def resolve(self, value: Value) -> object:
        if isinstance(value, Ref):
            return self.refs[value.key]
        if isinstance(value, Big):
            return value.text()
        return value

    def call(self, function: Function, params: Sequence[object]) -> Outcome:
        casts = ", ".join(f"%s::{kind}" for kind in function.types[: len(params)])
        query = f"SELECT * FROM {SCHEMA}.{function.name}({casts})"
        try:
            return Outcome(self.conn.execute(query, params).fetchall(), None)
        except psycopg.Error as error:
            if currently_in_test_context():
                note(f"{function.name} failed: {error.sqlstate} {str(error)[:300]!r}")
            return Outcome(None, error)

    def sql_job_locks(self) -> int:
        return int(
            scalar(
                self.conn,
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            )
        )

    def bigint(self, value: object) -> int:
        return int(scalar(self.conn, "SELECT %s::bigint", (value,)))

    def holds(self, query: str, params: Sequence[object]) -> bool:
        """Whether ``query`` (one boolean) is true of the log."""
        return bool(scalar(self.conn, query, tuple(params)))


def exercise(bench: Bench, function: Function, args: Sequence[Value]) -> None:
    """Call ``function`` with ``args`` and check the error, if any, and the log after it."""
    params = [bench.resolve(value) for value in args]
    before = log_state(bench.conn)
    outcome = bench.call(function, params)
    conn = bench.conn
    assert not conn.broken, "the session was lost"
    assert conn.info.transaction_status == TransactionStatus.IDLE
    if outcome.error is not None:
        assert_clear(outcome.error, params)
    if currently_in_test_context():
        sqlstate = outcome.error.sqlstate if outcome.error is not None else None
        event("outcome", "works" if sqlstate is None else f"fails with {sqlstate}")
    after = log_state(conn)
    check_log(bench, function, params, outcome, before, after)
    # Whatever the function: every step belongs to a job in the log, a running job is
    # never deleted (job_log_clear keeps them), and sql_job's session lock was let go.
    assert set(after.step_jobs.values()) <= after.jobs.keys(), "a step of a missing job"
    for key in ("target_job", "live_job"):
        assert bench.refs[key] in after.jobs, f"the running job {key} was deleted"
    assert bench.sql_job_locks() == 0, "a session-level advisory lock outlived the call"


def check_log(
    bench: Bench,
    function: Function,
    params: Sequence[object],
    outcome: Outcome,
    before: LogState,
    after: LogState,
) -> None:
    """What the call may have written, by function."""
    jobs = change(before.jobs, after.jobs)
    steps = change(before.steps, after.steps)
    name = function.name
    jobs, steps = dead_job_ended(bench, name, after, jobs, steps)
    check_moved(bench, name, before, after, jobs)
    unchanged = jobs.none and steps.none and before.checks == after.checks
    if name in READERS:
        assert unchanged, f"{name} wrote to the log: jobs {jobs}, steps {steps}"
        if outcome.rows is not None:
            check_read(bench, function, params, outcome.rows)
        return
    if name in WRITERS or name == "cancel_job":
        if outcome.error is not None:
            assert unchanged, f"failed {name} wrote to the log: jobs {jobs}, steps {steps}"
            return
        assert outcome.rows is not None
        check_write(bench, function, params, outcome.rows[0][0], before, after, jobs, steps)
        return
    if name == "fail_job_with_error":
        check_fail_job_with_error(bench, params, outcome, before, after, jobs, steps)
        return
    # sql_step, sql_job and job_log_clear: whatever they started, they ended.
    new_running = after.running_jobs & jobs.added
    assert not new_running, f"{name} left job(s) {sorted(new_running)} running"
    new_open = after.open_steps & steps.added
    assert not new_open, f"{name} left step(s) {sorted(new_open)} open"
    # Steps of jobs that job_log_clear deleted go with them; no other step may change.
    cleared = {step for step, job in before.step_jobs.items() if job in jobs.removed}
    assert not steps.changed and steps.removed <= cleared, f"{name} changed steps: {steps}"
    if name == "sql_step":
        check_sql_step(bench, params, outcome, jobs, steps)
    elif name == "sql_job":
        check_sql_job(bench, outcome, jobs, steps, after)
    else:
        check_job_log_clear(bench, outcome, jobs, steps)


def check_moved(bench: Bench, name: str, before: LogState, after: LogState, jobs: Change) -> None:
    """A job is marked remote_session only by a write of its own owner's steps from
    another backend than its own (a pooler's), which the bench's session always is
    for the jobs it did not add; nothing takes the mark off."""
    assert before.moved - after.moved <= jobs.removed, "a job lost its remote_session"
    marked = (after.moved - before.moved) - jobs.added
    if not marked:
        return
    assert name in ("add_step", "update_step", "sql_step"), f"{name} marked {marked}"
    assert len(marked) == 1, f"{name} marked {marked}"
    assert bench.holds(
        f"SELECT pid <> pg_backend_pid() AND status IS NULL FROM {SCHEMA}.job_log"
        " WHERE job_id = %s",
        (next(iter(marked)),),
    ), f"{name} marked a job of its own backend, or one ended"


def dead_job_ended(
    bench: Bench, name: str, after: LogState, jobs: Change, steps: Change
) -> tuple[Change, Change]:
    """The changes less the end of the job whose session is gone, checked here.

    add_job (sql_job's too) ends it when it starts a run of the same name, and
    job_log_clear ends it whatever the name. Nothing else may, and nothing ends the job
    of the live session.
    """
    orphan = bench.refs["orphan_job"]
    ended = [
        step
        for step in steps.added
        if after.step_jobs[step] == orphan
        and bench.holds(
            f"SELECT action = 'SESSION ENDED' FROM {SCHEMA}.job_detail WHERE step_id = %s",
            (step,),
        )
    ]
    if not ended:
        return jobs, steps
    assert name in ("add_job", "sql_job", "job_log_clear"), f"{name} ended the dead job"
    (step,) = ended
    assert orphan in jobs.changed and bench.holds(
        f"SELECT status = 'CRITICAL' FROM {SCHEMA}.job_log WHERE job_id = %s", (orphan,)
    ), "the dead job got its step but was not ended as failed"
    return (
        Change(jobs.added, jobs.removed, jobs.changed - {orphan}),
        Change(steps.added - {step}, steps.removed, steps.changed),
    )


def check_read(
    bench: Bench, function: Function, params: Sequence[object], rows: list[tuple[Any, ...]]
) -> None:
    if function.name == "check_job_status":
        assert rows, "check_job_status returned no row"
        assert {row[0] for row in rows} <= {1, 2, 3}, rows
        return
    if function.name == "show_detail" and len(function.types) == 1:
        job = scalar(bench.conn, "SELECT %s::bigint", (params[0],))
        assert all(row[0] == job for row in rows), f"show_detail({job}) showed other jobs"
        return
    defaults = {"show_detail": 1}
    limit_position = len(function.types) - 1
    if len(params) > limit_position:
        limit = scalar(bench.conn, "SELECT %s::integer", (params[limit_position],))
    else:
        limit = defaults.get(function.name, 10)
    if function.name == "show_detail":
        # The limit counts the latest runs, each with its steps.
        assert len({row[0] for row in rows}) <= (limit if limit is not None else len(rows))
    elif limit is not None:
        assert len(rows) <= limit, f"{function.name} gave {len(rows)} rows, limit {limit}"


def check_write(
    bench: Bench,
    function: Function,
    params: Sequence[object],
    result: Any,
    before: LogState,
    after: LogState,
    jobs: Change,
    steps: Change,
) -> None:
    """A log call that worked wrote its own row, exactly, and no other."""
    s = SCHEMA
    name = function.name
    if name == "add_job":
        assert jobs == Change(frozenset({result}), frozenset(), frozenset()), jobs
        assert steps.none
        assert bench.holds(
            f"SELECT job_name = upper(%s::text) AND owner = current_user"
            f" AND pid = pg_backend_pid() AND status IS NULL AND end_time IS NULL"
            f" FROM {s}.job_log WHERE job_id = %s",
            (params[0], result),
        ), "add_job stored something else than it was given"
        return
    if name == "add_step":
        assert jobs.none
        assert steps == Change(frozenset({result}), frozenset(), frozenset()), steps
        assert bench.holds(
            f"SELECT job_id = %s::bigint AND action = %s::text AND status IS NULL"
            f" AND end_time IS NULL FROM {s}.job_detail WHERE step_id = %s",
            (params[0], params[1], result),
        ), "add_step stored something else than it was given"
        return
    target = int(scalar(bench.conn, "SELECT %s::bigint", (params[0],)))
    if name == "update_step":
        assert jobs.none
        assert steps == Change(frozenset(), frozenset(), frozenset({target})), steps
        assert bench.holds(
            f"SELECT status IS NOT DISTINCT FROM %s::text"
            f" AND message IS NOT DISTINCT FROM %s::text"
            f" AND end_time IS NOT NULL AND elapsed_time >= 0"
            f" FROM {s}.job_detail WHERE step_id = %s",
            (*params[1:], target),
        ), "update_step stored something else than it was given"
        return
    if name == "cancel_job":
        assert result is True
        assert jobs == Change(frozenset(), frozenset(), frozenset({target})), jobs
        # The job's open step records the cancel; without one, a CANCEL JOB step does.
        assert not steps.removed and len(steps.added | steps.changed) == 1, steps
        (step,) = steps.added | steps.changed
        assert step not in after.open_steps, "cancel_job left its step open"
        assert after.step_jobs[step] == target, "cancel_job logged a step of another job"
        if steps.added:
            assert bench.holds(
                f"SELECT action = 'CANCEL JOB' FROM {s}.job_detail WHERE step_id = %s", (step,)
            )
        else:
            assert step in before.open_steps, "cancel_job overwrote a finished step"
        code: object = 3
    else:
        assert jobs.changed == {target} and not jobs.added and not jobs.removed, jobs
        assert steps.none
        code = 1 if name == "close_job" else (params[1] if len(params) > 1 else 3)
    assert bench.holds(
        f"SELECT j.status = t.alert_text AND j.end_time IS NOT NULL"
        f" FROM {s}.job_log AS j, {s}.job_status_text AS t"
        f" WHERE j.job_id = %s AND t.alert_code = %s::integer",
        (target, code),
    ), f"{name} did not end job {target} with the text of alert code {code}"


def check_sql_step(
    bench: Bench, params: Sequence[object], outcome: Outcome, jobs: Change, steps: Change
) -> None:
    assert jobs.none, f"sql_step changed jobs: {jobs}"
    assert len(steps.added) <= 1, steps
    if outcome.rows is None:
        return
    succeeded = outcome.rows[0][0]
    assert len(steps.added) == 1, "sql_step logged no step"
    (step,) = steps.added
    status, message_prefix = ("OK", "Rows affected: ") if succeeded else ("CRITICAL", "ERROR: ")
    assert bench.holds(
        f"SELECT job_id = %s::bigint AND action = %s::text AND status = %s"
        f" AND starts_with(message, %s) FROM {SCHEMA}.job_detail WHERE step_id = %s",
        (params[0], params[1], status, message_prefix, step),
    ), f"sql_step returned {succeeded} but its step does not say {status}"


def check_fail_job_with_error(
    bench: Bench,
    params: Sequence[object],
    outcome: Outcome,
    before: LogState,
    after: LogState,
    jobs: Change,
    steps: Change,
) -> None:
    """It never raises: an error is an argument's cast, before the call. It records the
    error on one step of the job and fails the job, or (with a WARNING) writes nothing."""
    unchanged = jobs.none and steps.none and before.checks == after.checks
    if outcome.error is not None:
        assert unchanged, f"fail_job_with_error failed and wrote: jobs {jobs}, steps {steps}"
        return
    if currently_in_test_context():
        event("fail_job_with_error", "recorded" if jobs.changed else "only warned")
    if not jobs.changed:
        assert unchanged, f"fail_job_with_error wrote but did not fail the job: {steps}"
        return
    (job,) = jobs.changed
    assert not jobs.added and not jobs.removed and job == bench.bigint(params[0]), jobs
    assert not steps.removed and len(steps.added | steps.changed) == 1, steps
    (step,) = steps.added | steps.changed
    assert after.step_jobs[step] == job and step not in after.open_steps
    if steps.changed:
        assert step in before.open_steps, "fail_job_with_error overwrote a finished step"
        assert step == bench.bigint(params[1]), "fail_job_with_error ended another step"
    level = params[7] if len(params) > 7 and params[7] is not None else 3
    assert bench.holds(
        f"SELECT j.status = t.alert_text AND d.status = t.alert_text"
        f" AND d.message = 'ERROR: ' || coalesce(%s::text, '')"
        f" AND (d.step_id = %s::bigint OR d.action = 'FAIL JOB')"
        f" FROM {SCHEMA}.job_log AS j, {SCHEMA}.job_detail AS d, {SCHEMA}.job_status_text AS t"
        f" WHERE j.job_id = %s AND d.step_id = %s AND t.alert_code = %s::integer",
        (params[3] if len(params) > 3 else None, params[1], job, step, level),
    ), f"fail_job_with_error did not record step {step} and job {job} as it was told"


SQL_JOB_RESULT = re.compile(
    r"Job logged with job id: (?P<ok>\d+)|Job ID (?P<failed>\d+) failed\."
    r" See job_detail table for more details"
)


def check_sql_job(
    bench: Bench, outcome: Outcome, jobs: Change, steps: Change, after: LogState
) -> None:
    assert not jobs.changed and not jobs.removed, f"sql_job changed other jobs: {jobs}"
    assert len(jobs.added) <= 1, jobs
    assert {after.step_jobs[step] for step in steps.added} <= jobs.added
    if outcome.rows is None:
        return
    returned = SQL_JOB_RESULT.fullmatch(outcome.rows[0][0])
    assert returned is not None, f"sql_job returned {outcome.rows[0][0]!r}"
    job = int(returned.group("ok") or returned.group("failed"))
    assert jobs.added == {job}, f"sql_job named job {job} but logged {jobs.added}"
    code = 1 if returned.group("ok") else 3
    assert bench.holds(
        f"SELECT j.status = {SCHEMA}._alert_text(%s) FROM {SCHEMA}.job_log AS j"
        " WHERE j.job_id = %s",
        (code, job),
    ), f"sql_job's job {job} does not have the status of alert code {code}"


def check_job_log_clear(bench: Bench, outcome: Outcome, jobs: Change, steps: Change) -> None:
    assert not jobs.changed, f"job_log_clear changed jobs it kept: {jobs}"
    assert len(jobs.added) <= 1 and len(steps.added) <= 1, (jobs, steps)
    if outcome.rows is None:
        return
    assert len(jobs.added) == 1, "job_log_clear did not log itself"
    (job,) = jobs.added
    assert bench.holds(
        f"SELECT job_name LIKE 'PURGING PG_JOBMON JOB LOGS OLDER THAN %%'"
        f" AND status = {SCHEMA}._alert_text(1) FROM {SCHEMA}.job_log WHERE job_id = %s",
        (job,),
    ), "job_log_clear's own job did not end well"


# -- Tests --------------------------------------------------------------------------------


@pytest.fixture
def bench(cluster: Cluster, db: str, conn: psycopg.Connection) -> Iterator[Bench]:
    with cluster.connect(db) as gone:
        dead_pid = gone.info.backend_pid
    with cluster.connect(db) as idle:
        yield Bench(conn, idle.info.backend_pid, dead_pid)


@pytest.mark.parametrize("signature", sorted(FUNCTIONS))
@SETTINGS
@given(data=st.data())
def test_generated_input_works_or_fails_clearly(
    bench: Bench, signature: str, data: st.DataObject
) -> None:
    function = FUNCTIONS[signature]
    bench.seed()
    if function.name == "check_job_status":
        bench.configure(data.draw(configs, label="job_check_config row"))
    args = data.draw(function.calls(), label="arguments")
    exercise(bench, function, args)


CORNER_CASES: list[tuple[str, tuple[Value, ...]]] = [
    (signature, (None,) * len(function.types)) for signature, function in FUNCTIONS.items()
]
CORNER_CASES += [
    ("add_job(text)", (Big("cjk", 3000, 1),)),
    ("add_step(bigint,text)", (2**63, "x")),
    ("fail_job(bigint,integer)", (Ref("target_job"), 2**31)),
    ("update_step(bigint,text,text)", (Ref("failed_job"), "OK", "a job id, not a step id")),
    ("cancel_job(bigint)", (Ref("live_job"),)),
    ("cancel_job(bigint)", (Ref("target_job"),)),
    ("job_log_clear(interval)", ("178000000 years",)),
    ("job_log_clear(interval)", ("0",)),
    ("check_job_status(interval)", ("-1 microsecond",)),
    ("sql_step(bigint,text,text)", (Ref("target_job"), "gen", Big("latin-1", 1 << 20, 2))),
    ("sql_job(text,text)", ("gen", Big("repeated", 1 << 20, 3))),
]
CORNER_CASES += [
    (signature, args)
    for sql in STOPPING_SQL
    for signature, args in (
        ("sql_step(bigint,text,text)", (Ref("target_job"), "gen", sql)),
        ("sql_job(text,text)", ("gen", sql)),
    )
]


@pytest.mark.parametrize(("signature", "args"), CORNER_CASES, ids=repr)
def test_corner_case_works_or_fails_clearly(
    bench: Bench, signature: str, args: tuple[Value, ...]
) -> None:
    bench.seed()
    exercise(bench, FUNCTIONS[signature], args)


def test_every_public_function_is_covered(conn: psycopg.Connection) -> None:
    """A public function added to the extension must be added to FUNCTIONS too."""
    installed = conn.execute(
        "SELECT p.oid::regprocedure::text, p.pronargdefaults FROM pg_proc AS p"
        " JOIN pg_depend AS d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
        " JOIN pg_extension AS e ON d.refclassid = 'pg_extension'::regclass"
        "  AND d.refobjid = e.oid AND d.deptype = 'e'"
        " WHERE e.extname = 'pg_jobmon' AND p.proname NOT LIKE '\\_%'"
        "  AND p.prorettype <> 'trigger'::regtype"
    ).fetchall()
    public = {signature.removeprefix(f"{SCHEMA}."): defaults for signature, defaults in installed}
    assert public == {signature: f.defaults for signature, f in FUNCTIONS.items()}
