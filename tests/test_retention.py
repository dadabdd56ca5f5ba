"""Retention: job_retention rows bound the history as jobs end, and nothing else changes."""

from __future__ import annotations

import contextlib
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, scalar
from monitoring import check_job_status, configure, finished_job
from readme import readme_sql, reference_sql

# A close_job that waits for nothing takes milliseconds; these bounds only tell "did not
# wait" from "waited", loosely enough for a slow machine.
NO_WAIT_SECONDS = 2.0
# _apply_retention()'s batch: runs, and steps, deleted per call at most.
BATCH_RUNS = 50
BATCH_STEPS = 250


def retain(conn: psycopg.Connection, name: str, **limits: Any) -> None:
    """A job_retention row: keep_succeeded, keep_failed, keep_runs (unset: no limit)."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.job_retention (job_name, keep_succeeded, keep_failed, keep_runs)"
        " VALUES (%s, %s, %s, %s)",
        (name, limits.get("keep_succeeded"), limits.get("keep_failed"), limits.get("keep_runs")),
    )


def old_runs(
    conn: psycopg.Connection,
    name: str,
    count: int = 1,
    status: str | None = "OK",
    age: str = "10 days",
    steps: int = 0,
) -> list[int]:
    """``count`` runs that ended ``age`` ago, a minute apart, oldest first, with ``steps``
    steps each; written directly, as history of long ago would be, owned by the role of
    ``conn`` (who logs the tests' other runs). Their ids."""
    ids = [
        job_id
        for (job_id,) in conn.execute(
            f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
            " SELECT current_user, %s, e - interval '10 seconds', CASE WHEN %s::text IS NULL"
            " THEN NULL ELSE e END, %s::text, 0"
            " FROM generate_series(%s, 1, -1) AS i,"
            " LATERAL (SELECT now() - %s::interval - i * interval '1 minute') AS t(e)"
            " ORDER BY i DESC RETURNING job_id",
            (name.upper(), status, status, count, age),
        ).fetchall()
    ]
    if steps:
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_detail (job_id, action, start_time, end_time, status)"
            " SELECT j, 'step ' || s, now(), now(), 'OK'"
            " FROM unnest(%s::bigint[]) AS j, generate_series(1, %s) AS s",
            (ids, steps),
        )
    return ids


def job_ids(conn: psycopg.Connection, name: str) -> list[int]:
    rows = conn.execute(
        f"SELECT job_id FROM {SCHEMA}.job_log WHERE job_name = %s ORDER BY job_id",
        (name.upper(),),
    ).fetchall()
    return [job_id for (job_id,) in rows]


def count(conn: psycopg.Connection, table: str) -> int:
    return int(scalar(conn, f"SELECT count(*) FROM {SCHEMA}.{table}"))


def warnings_of(conn: psycopg.Connection) -> list[str]:
    """The WARNINGs that ``conn`` receives from now on (a list that fills up)."""
    seen: list[str] = []
    conn.add_notice_handler(
        lambda notice: (
            seen.append(str(notice.message_primary))
            if notice.severity_nonlocalized == "WARNING"
            else None
        )
    )
    return seen


def test_no_row_keeps_everything(conn: psycopg.Connection) -> None:
    """As 1.5.0: without a job_retention row nothing is ever deleted."""
    old = old_runs(conn, "nightly", 5, age="10 years", steps=2)
    job_id = finished_job(conn, "nightly")
    assert job_ids(conn, "nightly") == [*old, job_id]
    assert count(conn, "job_detail") == 10


def test_a_star_row_applies_to_every_name_without_its_own(conn: psycopg.Connection) -> None:
    retain(conn, "*", keep_succeeded="1 day")
    retain(conn, "KEPT")  # a row of its own with no limit: everything stays
    retain(conn, "SHORT", keep_succeeded="1 hour")
    for name in ("other", "kept", "short"):
        old_runs(conn, name, 2, age="2 days", steps=1)
        old_runs(conn, name, 1, age="2 hours")
    recent = {name: finished_job(conn, name) for name in ("other", "kept", "short")}
    assert len(job_ids(conn, "other")) == 2  # the run of 2 hours ago, and today's
    assert len(job_ids(conn, "kept")) == 4
    assert job_ids(conn, "short") == [recent["short"]]
    assert count(conn, "job_detail") == 2  # those of KEPT's runs


def test_successes_and_failures_have_their_own_limits(conn: psycopg.Connection) -> None:
    retain(conn, "*", keep_succeeded="1 day", keep_failed="10 days")
    old_good = old_runs(conn, "mixed", 1, status="OK", age="20 days")
    old_bad = old_runs(conn, "mixed", 1, status="CRITICAL", age="20 days")
    good = old_runs(conn, "mixed", 1, status="OK", age="2 days")
    bad = old_runs(conn, "mixed", 1, status="WARNING", age="2 days")
    escalated = old_runs(conn, "mixed", 1, status="ESCALATED", age="2 days")
    assert old_good and old_bad
    latest = finished_job(conn, "mixed")
    assert job_ids(conn, "mixed") == [*bad, *escalated, latest]
    assert good  # deleted: a success past one day
    # fail_job applies it too.
    retain_failed = finished_job(conn, "mixed", fail_level=2)
    assert job_ids(conn, "mixed") == [*bad, *escalated, latest, retain_failed]


def test_keep_runs_keeps_the_newest_runs(conn: psycopg.Connection) -> None:
    retain(conn, "COUNTED", keep_runs=3)
    old = old_runs(conn, "counted", 6, age="1 minute", steps=1)
    newest = finished_job(conn, "counted")
    assert job_ids(conn, "counted") == [*old[-2:], newest]
    # With an age limit too, a run goes when it passes either.
    conn.execute(f"UPDATE {SCHEMA}.job_retention SET keep_succeeded = '1 hour'")
    old_runs(conn, "counted", 1, age="2 hours")
    another = finished_job(conn, "counted")
    assert job_ids(conn, "counted") == [old[-1], newest, another]


def test_never_deletes_a_running_job_or_a_counted_failure(conn: psycopg.Connection) -> None:
    retain(conn, "*", keep_succeeded="1 hour", keep_failed="1 hour", keep_runs=1)
    # A job not ended whose session this server cannot see (it ran on another one), and
    # one still running here.
    never_ended = old_runs(conn, "busy", 1, status=None, age="1 year")
    conn.execute(
        f"UPDATE {SCHEMA}.job_log SET remote_session = true WHERE job_id = ANY(%s)",
        (never_ended,),
    )
    running = add_job(conn, "busy")
    finished_job(conn, "busy")
    assert {*never_ended, running} <= set(job_ids(conn, "busy"))
    # Failures in a row stay counted in job_check_log until a success: all of them stay.
    failed = [finished_job(conn, "failing", fail_level=3) for _ in range(3)]
    conn.execute(
        f"UPDATE {SCHEMA}.job_log SET start_time = start_time - interval '1 day',"
        " end_time = end_time - interval '1 day' WHERE job_id = ANY(%s)",
        (failed[:2],),
    )
    last = finished_job(conn, "failing", fail_level=3)
    assert job_ids(conn, "failing") == [*failed, last]
    assert check_job_status(conn)[0][:3] == (3, "FAILED_RUN", "FAILING")
    # A success clears them: now they go (all but the newest run, by keep_runs).
    good = finished_job(conn, "failing")
    assert job_ids(conn, "failing") == [good]


def test_a_dead_session_s_run_is_ended_then_expires_like_any_failure(
    conn: psycopg.Connection,
) -> None:
    retain(conn, "*", keep_failed="1 hour", keep_runs=1)
    job_id = add_job(conn, "orphaned")
    # Never ended, by a session long gone (pid 0 is no session's), and come after add_job
    # looked: retention ends it as failed first.
    (dead,) = old_runs(conn, "orphaned", 1, status=None, age="1 year")
    conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
    # Ended as failed, and not deleted while its failure is counted.
    status = scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (dead,))
    assert status == "CRITICAL"
    assert set(job_ids(conn, "orphaned")) == {dead, job_id}
    # A good run clears the failures: then it expires like any old run.
    good = finished_job(conn, "orphaned")
    assert job_ids(conn, "orphaned") == [good]


def test_keeps_a_run_that_ended_after_every_later_one(conn: psycopg.Connection) -> None:
    """A long run that ended after the runs started since stays until a later-started run
    ends after it: it holds the latest end_time that check_job_status() reports."""
    retain(conn, "*", keep_runs=1)
    long_run, short, middle = (
        scalar(
            conn,
            f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, end_time, status, pid)"
            " VALUES (current_user, 'OVERLAP', now() - %s::interval, now() - %s::interval,"
            " 'OK', 0)"
            " RETURNING job_id",
            times,
        )
        for times in (("2 hours", "1 minute"), ("1 hour", "50 minutes"), ("40 min", "30 min"))
    )
    running = add_job(conn, "overlap")
    # The short run goes (the middle one ended after it); the middle one stays until the
    # running one ends; the long one ended after both.
    assert scalar(conn, f"SELECT {SCHEMA}._apply_retention('overlap', current_user)") == 1
    assert job_ids(conn, "overlap") == [long_run, middle, running]
    assert short not in job_ids(conn, "overlap")
    conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (running,))
    assert job_ids(conn, "overlap") == [running]


def test_the_function_takes_any_case_and_names_without_a_row(conn: psycopg.Connection) -> None:
    old_runs(conn, "manual", 3, age="2 days")
    finished_job(conn, "manual")
    assert scalar(conn, f"SELECT {SCHEMA}._apply_retention('manual')") == 0
    retain(conn, "MANUAL", keep_succeeded="1 day")
    assert scalar(conn, f"SELECT {SCHEMA}._apply_retention('manual')") == 3
    assert scalar(conn, f"SELECT {SCHEMA}._apply_retention(NULL)") == 0


def test_rows_are_checked(conn: psycopg.Connection) -> None:
    rows: list[tuple[str, dict[str, Any]]] = [
        ("nightly", {}),
        ("NIGHTLY", {"keep_succeeded": "0"}),
        ("NIGHTLY", {"keep_failed": "-1 day"}),
        ("NIGHTLY", {"keep_runs": 0}),
    ]
    for name, limits in rows:
        with pytest.raises(psycopg.errors.CheckViolation):
            retain(conn, name, **limits)


# --- check_job_status() answers as if nothing was deleted ---------------------------

NAMES = ("ALPHA", "BETA", "GAMMA", "DELTA")
HISTORIES = (
    "check_job_status()",
    *(
        f"check_job_status('{window}'::interval)"
        for window in ("2 hours", "3 hours", "10 hours", "1 day", "2 days", "1 year")
    ),
)


def random_history(conn: psycopg.Connection, seed: int) -> None:
    """Runs of a few names over three days: overlapping, of every status, some never
    ended (on another server); their ends written in order, through the status trigger, so that
    job_check_log holds what the logging functions would have made of them."""
    rng = random.Random(seed)
    now = scalar(conn, "SELECT date_trunc('second', now())")
    ends = []
    for name in NAMES:
        for _ in range(rng.randint(5, 40)):
            start = now - timedelta(seconds=rng.randint(60, 3 * 86400))
            status = rng.choice(("OK", "OK", "OK", "CRITICAL", "WARNING", None))
            # Runs never ended are of sessions on another server: nothing here ends them
            # (a dead session's run, ended as failed, is a failure like any other).
            job_id = scalar(
                conn,
                f"INSERT INTO {SCHEMA}.job_log (owner, job_name, start_time, pid, remote_session)"
                " VALUES ('history', %s, %s, 0, %s) RETURNING job_id",
                (name, start, status is None),
            )
            length = timedelta(seconds=rng.choice((5, 60, 600, 3600, 4 * 3600)))
            if status is not None:
                ends.append((min(start + length, now), job_id, status))
    for end, job_id, status in sorted(ends):
        conn.execute(
            f"UPDATE {SCHEMA}.job_log SET end_time = %s, status = %s WHERE job_id = %s",
            (end, status, job_id),
        )


def answers(conn: psycopg.Connection) -> list[list[tuple[Any, ...]]]:
    return [conn.execute(f"SELECT * FROM {SCHEMA}.{query}").fetchall() for query in HISTORIES]


@pytest.mark.parametrize("seed", range(12))
def test_check_job_status_answers_as_without_retention(conn: psycopg.Connection, seed: int) -> None:
    """The same history with and without retention, at the same moment (one transaction,
    so that now() is one): every answer of check_job_status() is the same."""
    configure(conn, "ALPHA", warn="10 minutes", error="1 hour")
    configure(conn, "BETA", warn="30 minutes", error="2 hours", sensitivity=1)
    configure(conn, "GAMMA", warn="1 hour", error="3 hours", active=False)
    random_history(conn, seed)
    retain(conn, "*", keep_succeeded="1 minute", keep_failed="2 hours")
    retain(conn, "BETA", keep_runs=2)
    deleted = 0
    with conn.transaction(force_rollback=True):
        before = answers(conn)
        for name in NAMES:
            apply = f"SELECT {SCHEMA}._apply_retention(%s, 'history')"
            while batch := scalar(conn, apply, (name,)):
                deleted += batch
        assert answers(conn) == before
    assert deleted > 0


# --- Failures, waits, concurrency, a backlog -------------------------------------------


def test_a_failing_retention_warns_once_and_the_job_still_ends(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    retain(conn, "*", keep_succeeded="1 hour")
    old = old_runs(conn, "blocked", 3, age="1 day", steps=1)
    warnings = warnings_of(conn)
    job_id = add_job(conn, "blocked")  # the logging connection is open and ready
    with cluster.connect(db) as other, other.transaction():
        # Deleting steps needs a lock this holds: retention gives up at once.
        other.execute(f"LOCK TABLE {SCHEMA}.job_detail IN SHARE MODE")
        started = time.monotonic()
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (job_id,))
        took = time.monotonic() - started
    assert took < NO_WAIT_SECONDS
    assert warnings == ['could not delete expired runs of job name "BLOCKED"']
    status = scalar(conn, f"SELECT status FROM {SCHEMA}.job_log WHERE job_id = %s", (job_id,))
    assert status == "OK"
    assert job_ids(conn, "blocked") == [*old, job_id]
    # The next close catches up, and logging went on over the same connection.
    finished_job(conn, "blocked")
    assert len(job_ids(conn, "blocked")) == 2
    assert len(warnings) == 1


def test_a_role_that_may_not_run_it_only_gets_a_warning(conn: psycopg.Connection) -> None:
    """A logging role without EXECUTE on _apply_retention() (not granted, as the README's
    logging-role block grants it)."""
    retain(conn, "*", keep_succeeded="1 hour")
    conn.execute("CREATE ROLE retention_writer LOGIN")
    try:
        for grant in (
            f"GRANT USAGE ON SCHEMA {SCHEMA} TO retention_writer",
            f"GRANT SELECT, INSERT, UPDATE ON {SCHEMA}.job_log, {SCHEMA}.job_detail"
            " TO retention_writer",
            f"GRANT SELECT ON {SCHEMA}.job_status_text TO retention_writer",
            f"GRANT USAGE ON SEQUENCE {SCHEMA}.job_log_job_id_seq,"
            f" {SCHEMA}.job_detail_step_id_seq TO retention_writer",
        ):
            conn.execute(grant)
        port = scalar(conn, "SELECT current_setting('port')")
        conn.execute(
            f"INSERT INTO {SCHEMA}.dblink_mapping_jobmon (username, port) VALUES (%s, %s)",
            ("retention_writer", port),
        )
        old = old_runs(conn, "revoked", 2, age="1 day")
        warnings = warnings_of(conn)
        job_id = finished_job(conn, "revoked")
        assert warnings == ['could not delete expired runs of job name "REVOKED"']
        assert job_ids(conn, "revoked") == [*old, job_id]
        # As a DBA may: grant it to the logging role, and retention goes on.
        conn.execute(
            f"GRANT EXECUTE ON FUNCTION {SCHEMA}._apply_retention(text, text) TO retention_writer"
        )
        finished_job(conn, "revoked")
        assert len(job_ids(conn, "revoked")) == 2
        assert len(warnings) == 1
    finally:
        conn.execute(f"DELETE FROM {SCHEMA}.dblink_mapping_jobmon")
        conn.execute("DROP OWNED BY retention_writer")
        conn.execute("DROP ROLE retention_writer")


def test_locked_runs_are_skipped_not_waited_for(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    retain(conn, "*", keep_succeeded="1 hour")
    old = old_runs(conn, "locked", 4, age="1 day", steps=1)
    warnings = warnings_of(conn)
    with cluster.connect(db) as other, other.transaction():
        other.execute(f"SELECT FROM {SCHEMA}.job_log WHERE job_id = ANY(%s) FOR UPDATE", (old[:2],))
        started = time.monotonic()
        job_id = finished_job(conn, "locked")
        assert time.monotonic() - started < NO_WAIT_SECONDS
        assert job_ids(conn, "locked") == [*old[:2], job_id]
    assert warnings == []
    last = finished_job(conn, "locked")
    assert job_ids(conn, "locked") == [job_id, last]


def test_two_sessions_closing_one_job_name_do_not_wait_for_each_other(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    retain(conn, "*", keep_succeeded="1 hour")
    old_runs(conn, "shared", 3 * BATCH_RUNS, age="1 day")
    first_job = add_job(conn, "shared")
    with cluster.connect(db) as second, second.transaction():
        # One session's retention is under way: its batch is deleted, not yet committed.
        second_job = add_job(second, "shared")
        second.execute(f"SELECT {SCHEMA}.close_job(%s)", (second_job,))
        assert scalar(second, f"SELECT {SCHEMA}._apply_retention('shared')") == BATCH_RUNS
        # The other closes meanwhile: it takes the next batch, and waits for nothing.
        started = time.monotonic()
        conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (first_job,))
        assert time.monotonic() - started < NO_WAIT_SECONDS
        left = len(job_ids(conn, "shared"))
    # Each close deleted a batch; the batch of the transaction still open is seen here.
    assert left == 3 * BATCH_RUNS + 2 - 2 * BATCH_RUNS
    assert len(job_ids(conn, "shared")) == 2


def test_concurrent_closes_of_one_name_all_end(cluster: Cluster, db: str) -> None:
    """Sessions closing runs of one name at once, over a backlog: none errs or warns,
    and together they drain it."""
    backlog = 1000
    with cluster.connect(db) as setup:
        retain(setup, "*", keep_succeeded="1 hour")
        old_runs(setup, "busy name", backlog, age="1 day", steps=2)
    loop = (
        "DO $$ BEGIN FOR i IN 1..5 LOOP"
        f" PERFORM {SCHEMA}.close_job({SCHEMA}.add_job('busy name'));"
        " END LOOP; END $$"
    )
    with contextlib.ExitStack() as stack:
        sessions = [stack.enter_context(cluster.connect(db)) for _ in range(4)]
        warned = [warnings_of(session) for session in sessions]
        with ThreadPoolExecutor(len(sessions)) as pool:
            for done in [pool.submit(session.execute, loop) for session in sessions]:
                done.result(timeout=60)
    assert warned == [[], [], [], []]
    with cluster.connect(db) as check:
        left = count(check, "job_log")
    # 20 closes of up to a batch each: the backlog is gone, the new runs stay.
    assert left == 20


def test_a_backlog_drains_in_bounded_batches(conn: psycopg.Connection) -> None:
    retain(conn, "*", keep_succeeded="1 day")
    old_runs(conn, "backlog", 5 * BATCH_RUNS, age="1 year", steps=2)
    # A run with more steps than a batch: its steps go over calls, then it does.
    big = old_runs(conn, "backlog", 1, age="2 days", steps=2 * BATCH_STEPS + 10)[0]
    runs, steps = count(conn, "job_log"), count(conn, "job_detail")
    calls = 0
    while big in job_ids(conn, "backlog"):
        finished_job(conn, "backlog")
        calls += 1
        runs_now, steps_now = count(conn, "job_log"), count(conn, "job_detail")
        # Each call deletes at most one batch (the close added one run).
        assert runs - runs_now + 1 <= BATCH_RUNS
        assert steps - steps_now <= BATCH_STEPS
        runs, steps = runs_now, steps_now
        assert calls < 20
    assert (runs, steps) == (calls, 0)
    # 250 runs of 2 steps, 50 a call (oldest first); then 510 steps of one run, 250 a
    # call.
    assert calls == 5 + 3


def test_the_readme_set_up(conn: psycopg.Connection) -> None:
    """Successes kept 30 days, failures a year."""
    conn.execute(readme_sql("retention"))
    success, failure = (
        old_runs(conn, "readme", 1, status, "40 days")[0] for status in ("OK", "CRITICAL")
    )
    old_failure = old_runs(conn, "readme", 1, "CRITICAL", "400 days")[0]
    latest = finished_job(conn, "readme")
    assert job_ids(conn, "readme") == [failure, latest]
    assert success < failure and old_failure not in job_ids(conn, "readme")


def test_draining_names_that_no_longer_run(conn: psycopg.Connection) -> None:
    """The reference's loop, for names whose jobs no longer end."""
    retain(conn, "*", keep_succeeded="1 day")
    for name in ("gone", "also gone"):
        old_runs(conn, name, 3 * BATCH_RUNS, age="2 days", steps=1)
        finished_job(conn, name)
    old_runs(conn, "never closed", 2, age="2 days")
    conn.execute(reference_sql("retention-drain"))
    assert count(conn, "job_log") == 2 + 1  # the latest of each name
    assert count(conn, "job_detail") == 0


def test_job_log_clear_is_unchanged_by_retention(conn: psycopg.Connection) -> None:
    retain(conn, "*", keep_runs=1000)
    old_runs(conn, "cleared", 3, age="40 days", steps=1)
    kept = finished_job(conn, "cleared")
    conn.execute(f"SELECT {SCHEMA}.job_log_clear('30 days')")
    assert job_ids(conn, "cleared") == [kept]
