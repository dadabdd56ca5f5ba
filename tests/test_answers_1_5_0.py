"""1.5.0's answers, scenario by scenario: check_job_status() and escalation.

Each expected answer was worked out by hand from pg_jobmon 1.5.0's own source (its
check_job_status(interval), the job_monitor trigger on job_log and the
job_check_log_escalate_trig trigger), not from this edition's code. Where 2.0.0 answers
otherwise on purpose, the scenario gives 2.0.0's answer as well, and the name of that
difference in doc/pg_jobmon.md ("Differences from 1.5.0, and why"). Every other answer
must be 1.5.0's, to the character.

Ended runs are back-dated, against the thresholds `configure` sets by default (warn
after 1 hour, error after 2 hours); running jobs age for real, against seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, backend_state, wait_until
from monitoring import back_date, check_job_status, check_log, configure, finished_job

JOB = "JOB"
NEVER_COMPLETED = "Has not completed a run since highest configured monitoring time period"
RUNNING_NEVER_COMPLETED = (
    "Currently running. Job has not had a completed run within configured monitoring time period."
)
# Thresholds for scenarios whose jobs age for real.
SECONDS = {"warn": "1 second", "error": "4 seconds"}
PAST_WARN, PAST_ERROR = 1.2, 4.2
# Custom levels above CRITICAL, for escalation.
CUSTOM_LEVELS = ((4, "PAGE"), (5, "PAGE HARD"))
Row = tuple[int, str, str | None, str]


@dataclass(frozen=True)
class Run:
    """A run of JOB that ended: close_job (level None) or fail_job(level).

    ``ago``: how long ago it ended; ``took``: how long before its end it started.
    ``label`` names its end time in an expected text: ``{label}``.
    """

    level: int | None = None
    ago: str = "0"
    took: str = "0"
    label: str | None = None


@dataclass(frozen=True)
class Ended:
    """A run of JOB whose status a DBA wrote by hand (None: ended without a status)."""

    status: str | None


@dataclass(frozen=True)
class Running:
    """A run of JOB still going in a live session, ``seconds`` old when checked.

    A job cannot be back-dated to before its session started (a newer session with the
    same process ID is not running it), so running jobs age for real, against
    thresholds in seconds (SECONDS).
    """

    seconds: float = 0


@dataclass(frozen=True)
class Abandoned:
    """A run of JOB started ``ago`` whose session ended without ending it."""

    ago: str


Event = Run | Ended | Running | Abandoned


@dataclass(frozen=True)
class Scenario:
    name: str
    events: tuple[Event, ...]
    # 1.5.0's rows, in its order; () is its all-clear row.
    answer: tuple[Row, ...]
    # job_check_config columns for JOB (active unless told); None: not configured.
    config: dict[str, Any] | None = None
    history: str | None = None
    custom_levels: bool = False
    # Where 2.0.0 differs on purpose: its rows, and the difference's name in the doc.
    ours: tuple[Row, ...] | None = None
    why: str = ""


def failures(level: int, count: int) -> tuple[Run, ...]:
    return tuple(Run(level) for _ in range(count))


C, W = 3, 2

SCENARIOS = [
    # Jobs without a job_check_config row: three failures at one alert code.
    Scenario("unconfigured, two failures", failures(C, 2), ()),
    Scenario(
        "unconfigured, three failures",
        failures(C, 3),
        ((3, "FAILED_RUN", JOB, "3 consecutive CRITICAL runs"),),
    ),
    Scenario(
        "unconfigured, five failures: still 'three'",
        failures(C, 5),
        ((3, "FAILED_RUN", JOB, "3 consecutive CRITICAL runs"),),
    ),
    Scenario("unconfigured, CRITICAL WARNING CRITICAL", (Run(C), Run(W), Run(C)), ()),
    Scenario(
        "unconfigured, three warnings",
        failures(W, 3),
        ((2, "FAILED_RUN", JOB, "3 consecutive WARNING runs"),),
    ),
    Scenario(
        "unconfigured, three of each level",
        failures(C, 3) + failures(W, 3),
        (
            (3, "FAILED_RUN", JOB, "3 consecutive CRITICAL runs"),
            (2, "FAILED_RUN", JOB, "3 consecutive WARNING runs"),
        ),
    ),
    Scenario("unconfigured, a good run clears", (*failures(C, 3), Run(), *failures(C, 2)), ()),
    Scenario(
        "unconfigured, a status that is no code's text",
        (Ended("BROKEN"), Ended("BROKEN"), Ended("BROKEN")),
        (),
    ),
    Scenario(
        "unconfigured, a custom level",
        failures(4, 3),
        ((4, "FAILED_RUN", JOB, "3 consecutive PAGE runs"),),
        custom_levels=True,
        ours=((3, "FAILED_RUN", JOB, "3 consecutive PAGE runs"),),
        why="alert_code is always 1, 2 or 3",
    ),
    # Configured jobs: failures counted per alert code against the sensitivity.
    Scenario(
        "sensitivity 0, one failure: FAILED_RUN only",
        (Run(C),),
        ((3, "FAILED_RUN", JOB, "1 CRITICAL run(s)"),),
        config={},
    ),
    Scenario("sensitivity 1, one warning", (Run(W),), (), config={"sensitivity": 1}),
    Scenario(
        "sensitivity 1, two warnings",
        failures(W, 2),
        ((2, "FAILED_RUN", JOB, "2 WARNING run(s)"),),
        config={"sensitivity": 1},
    ),
    Scenario(
        "sensitivity 1, a warning and a failure",
        (Run(W), Run(C)),
        (),
        config={"sensitivity": 1},
    ),
    Scenario(
        "sensitivity 0, a warning and a failure",
        (Run(W), Run(C)),
        (
            (3, "FAILED_RUN", JOB, "1 CRITICAL run(s)"),
            (2, "FAILED_RUN", JOB, "1 WARNING run(s)"),
        ),
        config={},
    ),
    Scenario("sensitivity 2, two failures", failures(C, 2), (), config={"sensitivity": 2}),
    Scenario(
        "sensitivity 2, three failures",
        failures(C, 3),
        ((3, "FAILED_RUN", JOB, "3 CRITICAL run(s)"),),
        config={"sensitivity": 2},
    ),
    Scenario(
        "inactive, three failures",
        failures(C, 3),
        (),
        config={"active": False},
    ),
    Scenario("inactive, never ran", (), (), config={"active": False}),
    # Configured jobs: the latest run started within the window, whatever its status.
    Scenario(
        "late past warn",
        (Run(ago="90 minutes", label="end"),),
        ((2, "MISSING", JOB, "Last completed run: {end}"),),
        config={},
    ),
    Scenario(
        "late past error, outside the window",
        (Run(ago="150 minutes"),),
        ((3, "MISSING", JOB, NEVER_COMPLETED),),
        config={},
    ),
    Scenario(
        "late past error, inside a longer window",
        (Run(ago="150 minutes", label="end"),),
        ((3, "MISSING", JOB, "Last completed run: {end}"),),
        config={},
        history="1 day",
    ),
    Scenario("never ran", (), ((3, "MISSING", JOB, NEVER_COMPLETED),), config={}),
    Scenario(
        "failed and late",
        (Run(C, ago="90 minutes", label="end"),),
        (
            (3, "FAILED_RUN", JOB, "1 CRITICAL run(s)"),
            (2, "MISSING", JOB, "Last completed run: {end}"),
        ),
        config={},
    ),
    Scenario(
        "latest run a warning under sensitivity 1",
        (Run(ago="90 minutes"), Run(W)),
        (),
        config={"sensitivity": 1},
    ),
    Scenario(
        "latest run ended without a status",
        (Run(ago="90 minutes"), Ended(None)),
        (),
        config={},
    ),
    Scenario(
        "a run that took long and ended recently",
        (Run(ago="5 minutes", took="90 minutes", label="end"),),
        ((2, "MISSING", JOB, "Last completed run: {end}"),),
        config={},
        ours=(),
        why="a run that ended within the threshold is not missing",
    ),
    Scenario(
        "abandoned by its session",
        (Abandoned(ago="90 minutes"),),
        ((2, "MISSING", JOB, NEVER_COMPLETED),),
        config={},
    ),
    # Running jobs: the late row becomes RUNNING, at the code its start time gives.
    Scenario("first run, running now", (Running(),), (), config={}),
    Scenario(
        "running past warn",
        (Running(PAST_WARN),),
        ((2, "RUNNING", JOB, RUNNING_NEVER_COMPLETED),),
        config=SECONDS,
    ),
    Scenario(
        "running past warn, an earlier run in the window",
        (Run(label="end"), Running(PAST_WARN)),
        ((2, "RUNNING", JOB, "Currently running. Last completed run: {end}"),),
        config=SECONDS,
    ),
    Scenario(
        "running past error, started outside the window",
        (Running(PAST_ERROR),),
        ((3, "MISSING", JOB, NEVER_COMPLETED),),
        config=SECONDS,
    ),
    Scenario(
        "running past error, inside a longer window",
        (Running(PAST_ERROR),),
        ((3, "RUNNING", JOB, RUNNING_NEVER_COMPLETED),),
        config=SECONDS,
        history="1 day",
    ),
    # Escalation as check_job_status() reports it: a row per alert code.
    Scenario(
        "escalate 2, six failures",
        failures(C, 6),
        (
            (5, "FAILED_RUN", JOB, "4 PAGE HARD run(s)"),
            (4, "FAILED_RUN", JOB, "1 PAGE run(s)"),
            (3, "FAILED_RUN", JOB, "1 CRITICAL run(s)"),
        ),
        config={"escalate": 2},
        custom_levels=True,
        ours=(
            (3, "FAILED_RUN", JOB, "4 PAGE HARD run(s)"),
            (3, "FAILED_RUN", JOB, "1 PAGE run(s)"),
            (3, "FAILED_RUN", JOB, "1 CRITICAL run(s)"),
        ),
        why="alert_code is always 1, 2 or 3",
    ),
    Scenario(
        "escalate 2, sensitivity 2, four failures",
        failures(C, 4),
        (),
        config={"escalate": 2, "sensitivity": 2},
        custom_levels=True,
    ),
    Scenario(
        "escalate 2, sensitivity 2, five failures",
        failures(C, 5),
        ((5, "FAILED_RUN", JOB, "3 PAGE HARD run(s)"),),
        config={"escalate": 2, "sensitivity": 2},
        custom_levels=True,
        ours=((3, "FAILED_RUN", JOB, "3 PAGE HARD run(s)"),),
        why="alert_code is always 1, 2 or 3",
    ),
]


def add_custom_levels(conn: psycopg.Connection) -> None:
    conn.cursor().executemany(
        f"INSERT INTO {SCHEMA}.job_status_text VALUES (%s, %s)", CUSTOM_LEVELS
    )


@contextlib.contextmanager
def played(
    cluster: Cluster, db: str, conn: psycopg.Connection, scenario: Scenario
) -> Iterator[dict[str, str]]:
    """The scenario's set-up and runs of JOB; yields the labelled end times as text.

    Sessions of running jobs stay open until the block ends.
    """
    if scenario.custom_levels:
        add_custom_levels(conn)
    if scenario.config is not None:
        configure(conn, JOB, **scenario.config)
    labels: dict[str, str] = {}
    aging: list[tuple[int, float]] = []
    with contextlib.ExitStack() as sessions:
        for event in scenario.events:
            if isinstance(event, Run):
                job_id = finished_job(conn, JOB, fail_level=event.level)
                end = back_date(conn, job_id, event.ago, event.took)
                if event.label:
                    labels[event.label] = end
            elif isinstance(event, Ended):
                job_id = add_job(conn, JOB)
                conn.execute(
                    f"UPDATE {SCHEMA}.job_log SET end_time = now(), status = %s WHERE job_id = %s",
                    (event.status, job_id),
                )
            elif isinstance(event, Running):
                worker = sessions.enter_context(cluster.connect(db))
                aging.append((add_job(worker, JOB), event.seconds))
            else:
                abandon_job(cluster, db, conn, event.ago)
        for job_id, seconds in aging:
            conn.execute(
                "SELECT pg_sleep(%s - extract(epoch FROM clock_timestamp() - start_time))"
                f" FROM {SCHEMA}.job_log WHERE job_id = %s",
                (seconds, job_id),
            )
        yield labels


def abandon_job(cluster: Cluster, db: str, conn: psycopg.Connection, ago: str) -> None:
    """A run of JOB started ``ago`` by a session that then ended without ending it."""
    with cluster.connect(db) as gone:
        back_date(conn, add_job(gone, JOB), ago)
        pid = gone.info.backend_pid
    wait_until(lambda: backend_state(conn, pid) == (None, None), what="the session to end")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_check_job_status_answers_as_1_5_0(
    cluster: Cluster, db: str, conn: psycopg.Connection, scenario: Scenario
) -> None:
    expected = scenario.answer if scenario.ours is None else scenario.ours
    assert scenario.ours is None or scenario.why, "a difference needs its reason"
    with played(cluster, db, conn, scenario) as labels:
        rows = [
            (code, status, name, text.format(**labels)) for code, status, name, text in expected
        ]
        assert check_job_status(conn, scenario.history) == (
            rows or [(1, "OK", None, "All jobs run successfully")]
        )


@dataclass(frozen=True)
class Escalation:
    name: str
    escalate: int
    levels: tuple[int, ...]
    # 1.5.0's job_check_log alert code of each failure, and the failures (1-based) that
    # raised the alert and so got an ALERT ESCALATION step and the status ESCALATED.
    codes: tuple[int, ...]
    escalated: tuple[int, ...]
    active: bool = True
    ours: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    why: str = ""


ESCALATIONS = [
    Escalation("escalate 2, CRITICAL", 2, (C,) * 6, (3, 4, 5, 5, 5, 5), (2, 3)),
    Escalation("escalate 3, CRITICAL", 3, (C,) * 7, (3, 3, 4, 4, 5, 5, 5), (3, 5)),
    Escalation("escalate 2, WARNING", 2, (W,) * 5, (2, 3, 4, 5, 5), (2, 3, 4)),
    Escalation("escalate 1, CRITICAL: never the first", 1, (C,) * 3, (3, 4, 5), (2, 3)),
    Escalation("escalate 2, WARNING then CRITICAL", 2, (W, C, W), (2, 4, 5), (2, 3)),
    Escalation(
        "escalate 2, inactive",
        2,
        (C,) * 4,
        (3, 4, 5, 5),
        (2, 3),
        active=False,
        ours=((3, 3, 3, 3), ()),
        why="an inactive row escalates nothing",
    ),
]


@pytest.mark.parametrize("case", ESCALATIONS, ids=[e.name for e in ESCALATIONS])
def test_escalation_as_1_5_0(conn: psycopg.Connection, case: Escalation) -> None:
    codes, escalated = (case.codes, case.escalated) if case.ours is None else case.ours
    assert case.ours is None or case.why, "a difference needs its reason"
    add_custom_levels(conn)
    configure(conn, JOB, escalate=case.escalate, active=case.active)
    jobs = [finished_job(conn, JOB, fail_level=level) for level in case.levels]
    assert [code for _, _, code in check_log(conn)] == list(codes)
    texts = {1: "OK", 2: "WARNING", 3: "CRITICAL"}
    statuses = conn.execute(
        f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = ANY(%s) ORDER BY job_id", (jobs,)
    ).fetchall()
    assert [status for (status,) in statuses] == [
        "ESCALATED" if number in escalated else texts[level]
        for number, level in enumerate(case.levels, 1)
    ]
    steps = conn.execute(
        f"SELECT job_id, status, message FROM {SCHEMA}.job_detail"
        " WHERE action = 'ALERT ESCALATION' ORDER BY step_id"
    ).fetchall()
    assert steps == [
        (jobs[number - 1], "ESCALATE", escalation_message(case, codes, number))
        for number in escalated
    ]


def escalation_message(case: Escalation, codes: tuple[int, ...], number: int) -> str:
    """1.5.0's step message for the ``number``-th failure (1-based), which was raised from
    the highest code alerted before it (or its own, if higher) to its recorded code."""
    raised_from = max((*codes[: number - 1], case.levels[number - 1]))
    return (
        f"Job has alerted at level {raised_from} in excess of the escalate value configured"
        f" for this job ({case.escalate}). Alert code value has been escaleted to:"
        f" {codes[number - 1]}"
    )


@dataclass(frozen=True)
class Calls:
    """A job's calls, as a PL/pgSQL block (``v_job`` and ``v_step`` are declared, ``{s}``
    is the schema), and what 1.5.0 logs for them: each job's (name, status) and its steps'
    (action, status, message), and the block's notices, where ``{job}`` is the job's id."""

    name: str
    block: str
    jobs: tuple[tuple[str, str | None], ...]
    steps: tuple[tuple[str, str | None, str | None], ...]
    notices: tuple[str, ...] = ()
    raises: str | None = None
    # Committed before the block, as a DBA's configuration is.
    setup: str | None = None
    ours: tuple[tuple[str, str | None], ...] | None = None
    why: str = ""


CALLS = [
    Calls(
        "a job, its steps and close_job",
        "v_job := {s}.add_job('nightly load');"
        " v_step := {s}.add_step(v_job, 'extract');"
        " PERFORM {s}.update_step(v_step, 'OK', 'done');"
        " v_step := {s}.add_step(v_job, 'Load');"
        " PERFORM {s}.update_step(v_step, 'late', 'free text, as given');"
        " PERFORM {s}.close_job(v_job);",
        (("NIGHTLY LOAD", "OK"),),
        (("extract", "OK", "done"), ("Load", "late", "free text, as given")),
    ),
    Calls(
        "fail_job's default level",
        "v_job := {s}.add_job('job'); PERFORM {s}.fail_job(v_job);",
        ((JOB, "CRITICAL"),),
        (),
    ),
    Calls(
        "fail_job at WARNING",
        "v_job := {s}.add_job('job'); PERFORM {s}.fail_job(v_job, 2);",
        ((JOB, "WARNING"),),
        (),
    ),
    Calls(
        "fail_job at a custom level",
        "v_job := {s}.add_job('job'); PERFORM {s}.fail_job(v_job, 4);",
        ((JOB, "PAGE"),),
        (),
        setup="INSERT INTO {s}.job_status_text VALUES (4, 'PAGE')",
    ),
    Calls(
        "close_job with a custom text",
        "v_job := {s}.add_job('job'); PERFORM {s}.close_job(v_job);",
        ((JOB, "FINE"),),
        (),
        setup="UPDATE {s}.job_status_text SET alert_text = 'FINE' WHERE alert_code = 1",
    ),
    Calls(
        "the log outlives the caller's rollback",
        "v_job := {s}.add_job('job');"
        " v_step := {s}.add_step(v_job, 'work');"
        " PERFORM {s}.update_step(v_step, 'CRITICAL', 'about to fail');"
        " RAISE EXCEPTION 'job failed';",
        ((JOB, None),),
        (("work", "CRITICAL", "about to fail"),),
        raises="job failed",
    ),
    Calls(
        "sql_step that succeeds",
        "CREATE TEMP TABLE t AS SELECT generate_series(1, 3) AS x;"
        " v_job := {s}.add_job('job');"
        " RAISE NOTICE '%', {s}.sql_step(v_job, 'touch t', 'UPDATE t SET x = x')::text;",
        ((JOB, "OK"),),
        (("touch t", "OK", "Rows affected: 3"),),
        notices=("true",),
        ours=((JOB, None),),
        why="sql_step() leaves the job open after a successful statement",
    ),
    Calls(
        "sql_step that fails",
        "v_job := {s}.add_job('job');"
        " RAISE NOTICE '%', {s}.sql_step(v_job, 'divide', 'SELECT 1 / 0')::text;",
        ((JOB, None),),
        (("divide", "CRITICAL", "ERROR: division by zero"),),
        notices=("false",),
    ),
    Calls(
        "sql_job that succeeds",
        "RAISE NOTICE '%', {s}.sql_job('sql job', $q$SELECT 'a'$q$);",
        (("SQL JOB", "OK"),),
        (("Running sql: 'SELECT ''a'''", "OK", "Rows affected: 1"),),
        notices=("Job logged with job id: {job}",),
    ),
    Calls(
        "sql_job that fails",
        "RAISE NOTICE '%', {s}.sql_job('sql job', 'SELECT 1 / 0');",
        (("SQL JOB", "CRITICAL"),),
        (("Running sql: 'SELECT 1 / 0'", "CRITICAL", "ERROR: division by zero"),),
        notices=("Job ID {job} failed. See job_detail table for more details",),
    ),
]


@pytest.mark.parametrize("case", CALLS, ids=[c.name for c in CALLS])
def test_calls_log_as_1_5_0(conn: psycopg.Connection, case: Calls) -> None:
    jobs = case.jobs if case.ours is None else case.ours
    assert case.ours is None or case.why, "a difference needs its reason"
    if case.setup:
        conn.execute(case.setup.format(s=SCHEMA))
    notices: list[str] = []
    conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
    block = case.block.format(s=SCHEMA)
    statement = f"DO $do$ DECLARE v_job bigint; v_step bigint; BEGIN {block} END $do$"
    if case.raises is None:
        conn.execute(statement)
    else:
        with pytest.raises(psycopg.errors.RaiseException) as raised:
            conn.execute(statement)
        assert raised.value.diag.message_primary == case.raises
    logged = conn.execute(
        f"SELECT job_id, job_name, status, owner = current_user, pid = pg_backend_pid()"
        f" FROM {SCHEMA}.job_log ORDER BY job_id"
    ).fetchall()
    assert [(name, status) for _, name, status, _, _ in logged] == list(jobs)
    # Owner and process ID are the caller's, not the logging connection's.
    assert all(owner and pid for *_, owner, pid in logged)
    job_ids = [job_id for job_id, *_ in logged]
    assert conn.execute(
        f"SELECT action, status, message FROM {SCHEMA}.job_detail ORDER BY step_id"
    ).fetchall() == list(case.steps)
    assert notices == [notice.format(job=job_ids[0]) for notice in case.notices]


@pytest.mark.parametrize(
    ("setup", "statement", "message"),
    [
        (
            f"INSERT INTO {SCHEMA}.job_check_config VALUES ('JOB', '1 hour', '2 hours', true)",
            f"SELECT * FROM {SCHEMA}.check_job_status('90 minutes')",
            "Input argument must be greater than or equal to the longest threshold in"
            " job_check_config table",
        ),
        (
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES ('5432')",
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (port) VALUES ('5433')",
            "Only a single row may exist in this table",
        ),
    ],
    ids=["check_job_status, too short a period", "a second configuration row"],
)
def test_errors_say_what_1_5_0_says(
    conn: psycopg.Connection, setup: str, statement: str, message: str
) -> None:
    conn.execute(setup)
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(statement)
    assert raised.value.diag.message_primary == message
