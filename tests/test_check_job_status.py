"""check_job_status(): every alert kind, its transitions, its order, and its interval form.

Time-based alerts are made by back-dating job_log rows, never by sleeping.
"""

from __future__ import annotations

import psycopg
import pytest
from fix_cluster import SCHEMA, Cluster, add_job, in_background, refusal, scalar, wait_until
from monitoring import ALL_CLEAR, back_date, check_job_status, configure, fill_big_log, finished_job

NEVER_RAN = "Has not completed a run since highest configured monitoring time period"


def test_all_clear_is_exactly_one_row(conn: psycopg.Connection) -> None:
    assert check_job_status(conn) == ALL_CLEAR
    finished_job(conn, "fine")
    assert check_job_status(conn) == ALL_CLEAR


def test_unconfigured_job_alerts_at_the_third_failure_in_a_row(conn: psycopg.Connection) -> None:
    finished_job(conn, "nightly", fail_level=3)
    finished_job(conn, "nightly", fail_level=3)
    assert check_job_status(conn) == ALL_CLEAR
    finished_job(conn, "nightly", fail_level=3)
    alert = [(3, "FAILED_RUN", "NIGHTLY", "3 consecutive CRITICAL runs")]
    assert check_job_status(conn) == alert
    finished_job(conn, "nightly", fail_level=3)
    assert check_job_status(conn) == alert
    finished_job(conn, "nightly")
    assert check_job_status(conn) == ALL_CLEAR


def test_a_good_run_between_failures_resets_the_count(conn: psycopg.Connection) -> None:
    for level in (3, 3, None, 3, 3):
        finished_job(conn, "patchy", fail_level=level)
    assert check_job_status(conn) == ALL_CLEAR


def test_configured_job_alerts_past_its_sensitivity(conn: psycopg.Connection) -> None:
    configure(conn, "TOLERANT", sensitivity=1)
    configure(conn, "STRICT")
    finished_job(conn, "tolerant")
    finished_job(conn, "strict")
    finished_job(conn, "tolerant", fail_level=3)
    finished_job(conn, "strict", fail_level=3)
    assert check_job_status(conn) == [(3, "FAILED_RUN", "STRICT", "1 CRITICAL run(s)")]
    finished_job(conn, "tolerant", fail_level=3)
    assert check_job_status(conn) == [
        (3, "FAILED_RUN", "STRICT", "1 CRITICAL run(s)"),
        (3, "FAILED_RUN", "TOLERANT", "2 CRITICAL run(s)"),
    ]


def test_missing_after_each_threshold(conn: psycopg.Connection) -> None:
    configure(conn, "HOURLY", warn="1 hour", error="2 hours")
    job_id = finished_job(conn, "hourly")
    assert check_job_status(conn) == ALL_CLEAR
    completed = back_date(conn, job_id, "90 minutes")
    assert check_job_status(conn) == [(2, "MISSING", "HOURLY", f"Last completed run: {completed}")]
    completed = back_date(conn, job_id, "1 hour")
    # Past the error threshold but inside the interval asked for: its time is known.
    assert check_job_status(conn, "3 hours") == [
        (3, "MISSING", "HOURLY", f"Last completed run: {completed}")
    ]
    # check_job_status() looks back as far as the longest threshold only.
    assert check_job_status(conn) == [(3, "MISSING", "HOURLY", NEVER_RAN)]
    finished_job(conn, "hourly")
    assert check_job_status(conn) == ALL_CLEAR


def test_a_failing_job_is_reported_once(conn: psycopg.Connection) -> None:
    """Its latest run started in time: FAILED_RUN only, never MISSING as well (1.5.0)."""
    configure(conn, "HOURLY")
    good = finished_job(conn, "hourly")
    back_date(conn, good, "90 minutes")
    configure(conn, "NEVER")
    finished_job(conn, "hourly", fail_level=3)
    assert check_job_status(conn) == [
        (3, "FAILED_RUN", "HOURLY", "1 CRITICAL run(s)"),
        (3, "MISSING", "NEVER", NEVER_RAN),
    ]


def test_inactive_config_silences_its_job(conn: psycopg.Connection) -> None:
    configure(conn, "PAUSED", active=False)
    for _ in range(3):
        finished_job(conn, "paused", fail_level=3)
    # Configured, though not checked: not even the rule of three failures (1.5.0).
    assert check_job_status(conn) == ALL_CLEAR
    conn.execute(f"UPDATE {SCHEMA}.job_check_config SET active = true")
    assert check_job_status(conn) == [(3, "FAILED_RUN", "PAUSED", "3 CRITICAL run(s)")]


def test_blocked_by_another_sessions_lock(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A late job whose session waits for a lock is BLOCKED, and its text names the holder."""
    configure(conn, "LOAD ORDERS", warn="1 second", error="1 hour")
    conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    conn.execute("INSERT INTO orders VALUES (1)")
    with cluster.connect(db) as holder, cluster.connect(db) as worker:
        holder.execute("BEGIN")
        holder.execute("SELECT * FROM orders FOR UPDATE")
        job_id = add_job(worker, "load orders")
        with in_background(worker, "UPDATE orders SET id = 2"):
            try:
                # Waiting, but not late yet: nothing to report (1.5.0).
                wait_until(
                    lambda: scalar(
                        conn,
                        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (worker.info.backend_pid,),
                    ),
                    what="the job to wait",
                )
                assert check_job_status(conn) == ALL_CLEAR
                wait_until(lambda: check_job_status(conn)[0][1] == "BLOCKED", what="lateness")
                [(code, status, name, text)] = check_job_status(conn)
            finally:
                holder.execute("ROLLBACK")
        assert (code, status, name) == (2, "BLOCKED", "LOAD ORDERS")
        assert text.startswith(
            f"Job ID {job_id} is waiting for a lock held by process ID(s)"
            f" {holder.info.backend_pid} since "
        )
        wait_until(lambda: check_job_status(conn)[0][1] == "RUNNING", what="the lock to go")


def test_worst_first(conn: psycopg.Connection) -> None:
    configure(conn, "B MISSING")
    configure(conn, "C WARNED")
    finished_job(conn, "c warned")
    finished_job(conn, "c warned", fail_level=2)
    for name in ("z failing", "a failing"):
        for _ in range(3):
            finished_job(conn, name, fail_level=3)
    rows = check_job_status(conn)
    assert [row[:3] for row in rows] == [
        (3, "FAILED_RUN", "A FAILING"),
        (3, "MISSING", "B MISSING"),
        (3, "FAILED_RUN", "Z FAILING"),
        (2, "FAILED_RUN", "C WARNED"),
    ]
    worst = conn.execute(f"SELECT * FROM {SCHEMA}.check_job_status() LIMIT 1").fetchall()
    assert worst == rows[:1]


def test_interval_form_refuses_less_than_the_longest_threshold(conn: psycopg.Connection) -> None:
    configure(conn, "DAILY", warn="1 day", error="2 days")
    configure(conn, "WEEKLY", warn="7 days", error="8 days", active=False)
    finished_job(conn, "daily")
    message = refusal(
        conn,
        f"SELECT * FROM {SCHEMA}.check_job_status('1 day')",
        psycopg.errors.InvalidParameterValue,
    )
    # 1.5.0's message.
    assert message == (
        "Input argument must be greater than or equal to the longest threshold"
        " in job_check_config table"
    )
    # Inactive rows do not count.
    assert check_job_status(conn, "2 days") == ALL_CLEAR
    assert check_job_status(conn, "1 year") == ALL_CLEAR


@pytest.mark.parametrize(
    ("history", "error"),
    [
        (None, psycopg.errors.NullValueNotAllowed),
        ("-1 hour", psycopg.errors.InvalidParameterValue),
    ],
)
def test_interval_form_refuses_bad_intervals(
    conn: psycopg.Connection, history: str | None, error: type[psycopg.Error]
) -> None:
    refusal(conn, f"SELECT * FROM {SCHEMA}.check_job_status(%s::interval)", error, (history,))


def test_never_opens_a_logging_connection(cluster: Cluster, db: str) -> None:
    with cluster.connect(db) as monitor:
        check_job_status(monitor)
        check_job_status(monitor, "1 day")
        assert cluster.loggers(db) == []


@pytest.mark.slow
def test_a_million_jobs_and_100_configured(conn: psycopg.Connection) -> None:
    """The answer on a big log, and a plan that reads each job's latest runs by index."""
    fill_big_log(conn)
    assert check_job_status(conn) == [
        (3, "FAILED_RUN", "JOB 500", "3 consecutive CRITICAL runs"),
        (3, "FAILED_RUN", "JOB 7", "1 CRITICAL run(s)"),
        (3, "MISSING", "JOB NEVER", NEVER_RAN),
    ]
    plans: list[str] = []
    conn.add_notice_handler(lambda notice: plans.append(str(notice.message_primary)))
    conn.execute("LOAD 'auto_explain'")
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_level = notice"):
        conn.execute(f"SET auto_explain.{setting}")
    check_job_status(conn)
    plan = max(plans, key=len)
    assert "Index Scan Backward using job_log_job_name_idx" in plan
    assert "Seq Scan on job_log" not in plan
