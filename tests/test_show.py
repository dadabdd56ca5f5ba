"""The show_* queries: newest first, their default limits, and running jobs told apart."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import (
    LOGGER_PREFIX,
    SCHEMA,
    Cluster,
    add_job,
    backend_state,
    refusal,
    scalar,
    wait_until,
)


def ids(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> list[int]:
    return [int(row[0]) for row in conn.execute(f"SELECT * FROM {SCHEMA}." + query, params)]


def run_job(conn: psycopg.Connection, name: str, fail_level: int | None = None) -> int:
    """A job with two steps, ended with close_job or with fail_job(fail_level)."""
    job_id = add_job(conn, name)
    for action in ("first", "second"):
        step = scalar(conn, f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, action))
        conn.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))
    if fail_level is None:
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    else:
        conn.execute(f"SELECT {SCHEMA}.fail_job(%s, %s)", (job_id, fail_level))
    return job_id


@pytest.fixture
def history(conn: psycopg.Connection) -> dict[str, list[int]]:
    """Twelve runs of NIGHTLY (every third one failed) and two of WEEKLY, by job name."""
    runs: dict[str, list[int]] = {"NIGHTLY": [], "WEEKLY": []}
    for number in range(12):
        runs["NIGHTLY"].append(run_job(conn, "nightly", 3 if number % 3 == 0 else None))
        if number in (4, 9):
            runs["WEEKLY"].append(run_job(conn, "Weekly", 2))
    return runs


def newest(job_ids: list[int], count: int | None = None) -> list[int]:
    return sorted(job_ids, reverse=True)[:count]


def test_show_job(conn: psycopg.Connection, history: dict[str, list[int]]) -> None:
    nightly = history["NIGHTLY"]
    assert ids(conn, "show_job('nightly')") == newest(nightly, 10)
    assert ids(conn, "show_job('NightLY', 3)") == newest(nightly, 3)
    assert ids(conn, "show_job('nightly', NULL)") == newest(nightly)
    assert ids(conn, "show_job('night')") == []


def test_show_job_like(conn: psycopg.Connection, history: dict[str, list[int]]) -> None:
    everything = history["NIGHTLY"] + history["WEEKLY"]
    assert ids(conn, "show_job_like('^night')") == newest(history["NIGHTLY"], 10)
    assert ids(conn, "show_job_like('LY$', 20)") == newest(everything)
    assert ids(conn, "show_job_like('^w.*y$', 1)") == newest(history["WEEKLY"], 1)
    # A pattern is a regular expression, not a name: \S stays \S (upper-cased, \s).
    assert ids(conn, "show_job_like('^\\S+$', 20)") == newest(everything)
    # As in 1.5.0, the empty pattern matches every name.
    assert ids(conn, "show_job_like('', 20)") == newest(everything)


def test_show_job_status(conn: psycopg.Connection, history: dict[str, list[int]]) -> None:
    failed = [job for number, job in enumerate(history["NIGHTLY"]) if number % 3 == 0]
    succeeded = sorted(set(history["NIGHTLY"]) - set(failed))
    assert ids(conn, "show_job_status('CRITICAL')") == newest(failed)
    assert ids(conn, "show_job_status('WARNING')") == newest(history["WEEKLY"])
    assert ids(conn, "show_job_status('OK', 2)") == newest(succeeded, 2)
    assert ids(conn, "show_job_status('nightly', 'OK')") == newest(succeeded, 10)
    assert ids(conn, "show_job_status('weekly', 'OK')") == []
    assert ids(conn, "show_job_status('nightly', 'CRITICAL', 1)") == newest(failed, 1)


def test_show_detail(conn: psycopg.Connection, history: dict[str, list[int]]) -> None:
    steps = conn.execute(
        f"SELECT job_id, step_id FROM {SCHEMA}.job_detail ORDER BY job_id DESC, step_id"
    ).fetchall()
    nightly = newest(history["NIGHTLY"])

    def steps_of(*job_ids: int) -> list[tuple[int, int]]:
        return [step for step in steps if step[0] in job_ids]

    rows = conn.execute(f"SELECT job_id, step_id FROM {SCHEMA}.show_detail(%s)", (nightly[3],))
    assert rows.fetchall() == steps_of(nightly[3])
    rows = conn.execute(f"SELECT job_id, step_id FROM {SCHEMA}.show_detail('nightly')")
    assert rows.fetchall() == steps_of(nightly[0])
    rows = conn.execute(f"SELECT job_id, step_id FROM {SCHEMA}.show_detail('nightly', 2)")
    assert rows.fetchall() == steps_of(nightly[0], nightly[1])
    shown = conn.execute(f"SELECT * FROM {SCHEMA}.show_detail(1)")
    assert [len(row) for row in shown] == [12, 12]
    # 1.5.0's eight columns first, in their order; the error's fields after them.
    assert [column.name for column in shown.description or []] == [
        *("job_id", "step_id", "action", "start_time", "end_time", "elapsed_time"),
        *("status", "message", "sqlstate", "error_detail", "error_hint", "error_context"),
    ]


def test_show_running_lists_jobs_whose_session_runs_them(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    run_job(conn, "finished")
    with cluster.connect(db) as worker, cluster.connect(db) as bystander:
        running = add_job(worker, "running")
        also_running = add_job(worker, "also running")
        with cluster.connect(db) as gone:
            add_job(gone, "abandoned")
            gone_pid = gone.info.backend_pid
        wait_until(lambda: backend_state(conn, gone_pid) == (None, None), what="the session end")
        # A job of a session that ended, whose pid a newer session now has.
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
            " VALUES ('postgres', 'PID REUSED', now() - interval '1 hour', %s)",
            (bystander.info.backend_pid,),
        )
        # A job of a session that ended, whose pid a logging connection now has: not
        # listed, because that connection started after the job, as any newer session.
        logger_pid = scalar(
            conn,
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s LIMIT 1",
            (LOGGER_PREFIX + "%",),
        )
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid)"
            " VALUES ('postgres', 'LOGGER', now() - interval '1 hour', %s)",
            (logger_pid,),
        )
        assert ids(conn, "show_running()") == [also_running, running]
        assert ids(conn, "show_running(1)") == [also_running]
        worker.execute(f"SELECT {SCHEMA}.close_job(%s)", (also_running,))
        assert ids(conn, "show_running()") == [running]
    # Once the session is gone (it may take a moment to exit), its open job is not running.
    wait_until(lambda: ids(conn, "show_running()") == [], what="the worker's job to stop")


def test_show_running_sees_every_roles_jobs(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """pg_stat_activity hides other roles' sessions from a plain role; show_running does not."""
    conn.execute("CREATE ROLE watcher LOGIN")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO watcher")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO watcher")
    conn.execute(f"GRANT SELECT ON {SCHEMA}.job_log, {SCHEMA}.job_detail TO watcher")
    running = add_job(conn, "superuser job")
    with cluster.connect(db, user="watcher") as watcher:
        started = scalar(
            watcher,
            "SELECT backend_start FROM pg_stat_activity WHERE pid = %s",
            (conn.info.backend_pid,),
        )
        assert started is None  # hidden from this role
        assert ids(watcher, "show_running()") == [running]
        assert ids(watcher, "show_job('superuser job')") == [running]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ("show_job(NULL)", psycopg.errors.NullValueNotAllowed, "job name must not be null"),
        ("show_job('')", psycopg.errors.InvalidParameterValue, "job name must not be empty"),
        ("show_job('x', -1)", psycopg.errors.InvalidRowCountInLimitClause, "LIMIT must not be"),
        ("show_job_like(NULL)", psycopg.errors.NullValueNotAllowed, "job name must not be null"),
        ("show_job_like('(')", psycopg.errors.InvalidRegularExpression, "invalid regular"),
        ("show_job_like('x', -5)", psycopg.errors.InvalidRowCountInLimitClause, "LIMIT must"),
        ("show_job_status(NULL)", psycopg.errors.NullValueNotAllowed, "status must not be null"),
        ("show_job_status('x', NULL)", psycopg.errors.NullValueNotAllowed, "status must not"),
        ("show_job_status(NULL, 'OK')", psycopg.errors.NullValueNotAllowed, "job name must"),
        ("show_job_status('OK', -1)", psycopg.errors.InvalidRowCountInLimitClause, "LIMIT"),
        ("show_detail(NULL::bigint)", psycopg.errors.NullValueNotAllowed, "job id must not"),
        ("show_detail(NULL::text)", psycopg.errors.NullValueNotAllowed, "job name must not"),
        ("show_detail('x', -1)", psycopg.errors.InvalidRowCountInLimitClause, "LIMIT must"),
        ("show_running(-1)", psycopg.errors.InvalidRowCountInLimitClause, "LIMIT must not"),
    ],
)
def test_bad_arguments_on_an_empty_log(
    conn: psycopg.Connection, call: str, error: type[psycopg.Error], message: str
) -> None:
    """Refused even when there is no row to look at."""
    assert message in refusal(conn, f"SELECT * FROM {SCHEMA}.{call}", error)


def test_hostile_names_are_data(conn: psycopg.Connection) -> None:
    name = "x'); DELETE FROM jobmon.job_log; --"
    job_id = run_job(conn, name)
    assert ids(conn, "show_job(%s)", (name,)) == [job_id]
    assert ids(conn, "show_job_like(%s)", ("DELETE FROM",)) == [job_id]
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_log") == 1
