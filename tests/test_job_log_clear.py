"""job_log_clear: old jobs and their steps go, running jobs and their logging stay."""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, backend_state, refusal, scalar, wait_until

# 1.5.0's name for the clearing job, followed by the boundary.
CLEAR_PREFIX = "PURGING PG_JOBMON JOB LOGS OLDER THAN "
CLEAR_JOB = "<the clearing job>"
DELETED = "Deleted {} rows from job_log and associated rows in job_detail"


def finished_job(conn: psycopg.Connection, name: str, steps: int, age: str) -> int:
    """A job with ``steps`` steps that ended, back-dated to have started ``age`` ago."""
    job_id = add_job(conn, name)
    for number in range(steps):
        conn.execute(f"SELECT {SCHEMA}.add_step(%s, %s)", (job_id, f"step {number}"))
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
    conn.execute(
        f"UPDATE {SCHEMA}.job_log SET start_time = now() - %s::interval WHERE job_id = %s",
        (age, job_id),
    )
    return job_id


def jobs_left(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(f"SELECT job_name FROM {SCHEMA}.job_log ORDER BY job_id").fetchall()
    return [CLEAR_JOB if name.startswith(CLEAR_PREFIX) else name for (name,) in rows]


def clear_job_log(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT l.status, d.status, d.message FROM {SCHEMA}.job_log l"
        f" JOIN {SCHEMA}.job_detail d USING (job_id) WHERE l.job_name LIKE %s",
        (CLEAR_PREFIX + "%",),
    ).fetchall()


def test_deletes_older_jobs_with_their_steps_and_logs_itself(conn: psycopg.Connection) -> None:
    finished_job(conn, "ancient", 3, "40 days")
    finished_job(conn, "old", 2, "31 days")
    keep = finished_job(conn, "recent", 2, "29 days")
    notices: list[str] = []
    conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
    conn.execute(f"SELECT {SCHEMA}.job_log_clear('30 days')")
    assert jobs_left(conn) == ["RECENT", CLEAR_JOB]
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_detail WHERE job_id = %s", (keep,)) == 2
    assert clear_job_log(conn) == [("OK", "OK", DELETED.format(2))]
    assert notices == [DELETED.format(2)]


def test_names_its_job_and_says_when_nothing_was_old_enough(conn: psycopg.Connection) -> None:
    """1.5.0's job name, step and notice, all naming the boundary as the session prints it."""
    conn.execute("SET TimeZone = 'UTC'")
    notices: list[str] = []
    conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
    boundary = scalar(
        conn, f"SELECT (now() - interval '1 day')::text, {SCHEMA}.job_log_clear('1 day')"
    )
    row = conn.execute(
        f"SELECT j.job_name, d.action, d.message FROM {SCHEMA}.job_log j"
        f" JOIN {SCHEMA}.job_detail d USING (job_id)"
    ).fetchone()
    assert row == (
        CLEAR_PREFIX + boundary.upper(),
        "Purging pg_jobmon job logs older than " + boundary,
        "No jobs logged older than " + boundary,
    )
    assert notices == ["No jobs logged older than " + boundary]


def test_keeps_running_jobs_whatever_their_age(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    finished_job(conn, "finished", 1, "1 second")
    with cluster.connect(db) as worker:
        running = add_job(worker, "running")
        with cluster.connect(db) as abandoned:
            add_job(abandoned, "abandoned")
            pid = abandoned.info.backend_pid
        wait_until(lambda: backend_state(conn, pid) == (None, None), what="the session to end")
        conn.execute(f"SELECT {SCHEMA}.job_log_clear('0')")  # everything older than now()
        assert jobs_left(conn) == ["RUNNING", CLEAR_JOB]
        # The kept job goes on logging.
        step = scalar(worker, f"SELECT {SCHEMA}.add_step(%s, 'later')", (running,))
        worker.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'done')", (step,))
        worker.execute(f"SELECT {SCHEMA}.close_job(%s)", (running,))
    assert clear_job_log(conn) == [("OK", "OK", DELETED.format(2))]


def test_running_jobs_log_while_a_clear_is_in_progress(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """The clear's uncommitted deletes hold no lock that a running job's writes wait for."""
    for number in range(20):
        finished_job(conn, f"old {number}", 5, "2 days")
    with cluster.connect(db) as worker, cluster.connect(db) as cleaner:
        running = add_job(worker, "nightly")
        cleaner.execute("BEGIN")
        cleaner.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
        # A hang would become a QueryCanceled here instead of a stuck test.
        worker.execute("SET statement_timeout = '5s'")
        step = scalar(worker, f"SELECT {SCHEMA}.add_step(%s, 'load')", (running,))
        worker.execute(f"SELECT {SCHEMA}.update_step(%s, 'OK', 'loaded')", (step,))
        worker.execute(f"SELECT {SCHEMA}.close_job(%s)", (running,))
        other = add_job(worker, "another")
        worker.execute(f"SELECT {SCHEMA}.close_job(%s)", (other,))
        cleaner.execute("COMMIT")
    assert jobs_left(conn) == ["NIGHTLY", CLEAR_JOB, "ANOTHER"]
    assert clear_job_log(conn) == [("OK", "OK", DELETED.format(20))]


def test_a_failed_clear_is_logged_and_raised(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    finished_job(conn, "old", 1, "2 days")
    conn.execute("CREATE ROLE reader LOGIN")
    conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO reader")
    conn.execute(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {SCHEMA} TO reader")
    conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO reader")
    with (
        cluster.connect(db, user="reader") as reader,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        reader.execute(f"SELECT {SCHEMA}.job_log_clear('1 day')")
    assert jobs_left(conn) == ["OLD", CLEAR_JOB]
    assert clear_job_log(conn) == [
        ("CRITICAL", "CRITICAL", "ERROR: permission denied for table job_detail")
    ]


@pytest.mark.parametrize(
    ("interval", "error", "message"),
    [
        (None, psycopg.errors.NullValueNotAllowed, "interval must not be null"),
        ("-1 day", psycopg.errors.InvalidParameterValue, "interval must not be negative"),
    ],
)
def test_bad_intervals_are_refused_and_delete_nothing(
    conn: psycopg.Connection, interval: str | None, error: type[psycopg.Error], message: str
) -> None:
    finished_job(conn, "old", 1, "2 days")
    call = f"SELECT {SCHEMA}.job_log_clear(%s::interval)"
    assert refusal(conn, call, error, (interval,)) == message
    assert jobs_left(conn) == ["OLD"]


@pytest.mark.slow
def test_a_million_old_steps(conn: psycopg.Connection) -> None:
    """A big log clears in one call, and exactly: every old step, no newer one."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
        " SELECT 'postgres', 'BULK', now() - interval '60 days', now(), 'OK', 1"
        " FROM generate_series(1, 100000)"
    )
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_detail (job_id, action, start_time)"
        f" SELECT job_id, 'step', start_time FROM {SCHEMA}.job_log, generate_series(1, 10)"
    )
    finished_job(conn, "recent", 1, "1 day")
    conn.execute(f"ANALYZE {SCHEMA}.job_log, {SCHEMA}.job_detail")
    conn.execute(f"SELECT {SCHEMA}.job_log_clear('30 days')")
    assert clear_job_log(conn) == [("OK", "OK", DELETED.format(100000))]
    assert jobs_left(conn) == ["RECENT", CLEAR_JOB]
    assert scalar(conn, f"SELECT count(*) FROM {SCHEMA}.job_detail") == 2
