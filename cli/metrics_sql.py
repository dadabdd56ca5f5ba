"""The SQL of the metrics, and their names: the one source of `pg_jobmon metrics` and of
the collector files in doc/collectors/ (scripts/collectors.py writes those from here).

Each query names the schema as ``{schema}``: the command puts in the extension's schema
as an identifier (psycopg.sql), the collector files the documented ``jobmon``. A metric's
name is the query's namespace, "_", and its column: postgres_exporter's rule, so that its
queries file gives the same names. Every metric is a gauge. A NULL (a job that never
succeeded, a window with no ended run) is no sample.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "pg_jobmon"


@dataclass(frozen=True)
class Metric:
    column: str
    help: str


@dataclass(frozen=True)
class Query:
    name: str
    namespace: str
    help: str
    sql: str
    labels: tuple[str, ...]
    metrics: tuple[Metric, ...]

    def metric_name(self, metric: Metric) -> str:
        return f"{self.namespace}_{metric.column}"


JOBS = Query(
    name="jobs",
    namespace=f"{PREFIX}_job",
    help="One row per job name, from the view job_summary.",
    sql="""SELECT job_name,
    extract(epoch FROM last_start)::float8 AS last_start_timestamp_seconds,
    extract(epoch FROM last_success)::float8 AS last_success_timestamp_seconds,
    extract(epoch FROM last_failure)::float8 AS last_failure_timestamp_seconds,
    runs AS window_runs,
    failures AS window_failures,
    extract(epoch FROM duration_p50)::float8 AS duration_p50_seconds,
    extract(epoch FROM duration_p95)::float8 AS duration_p95_seconds,
    extract(epoch FROM duration_max)::float8 AS duration_max_seconds,
    running,
    coalesce(alert_code, 1) AS alert_code
FROM {schema}.job_summary
ORDER BY job_name""",
    labels=("job_name",),
    metrics=(
        Metric("last_start_timestamp_seconds", "Start of the job's latest run, Unix time."),
        Metric(
            "last_success_timestamp_seconds",
            "End of the job's latest good run (status of alert code 1), Unix time.",
        ),
        Metric(
            "last_failure_timestamp_seconds",
            "End of the job's latest failed run (status of an alert code above 1, or"
            " ESCALATED), Unix time.",
        ),
        Metric("window_runs", "Runs of the job started within the summary window."),
        Metric("window_failures", "Of the window's runs, those that ended as failures."),
        Metric("duration_p50_seconds", "Median duration of the window's ended runs, in seconds."),
        Metric(
            "duration_p95_seconds",
            "95th percentile of the durations of the window's ended runs, in seconds.",
        ),
        Metric("duration_max_seconds", "Longest of the window's ended runs, in seconds."),
        Metric("running", "Runs of the job in progress in a live session."),
        Metric(
            "alert_code",
            "The job's current alert: the highest alert code in job_check_log, 1 when none.",
        ),
    ),
)

# Every status and level check_job_status() reports, with 0 where there is no problem:
# an alert rule then compares a number, and never meets a missing series.
PROBLEMS = Query(
    name="problems",
    namespace=PREFIX,
    help="The problems of check_job_status(), counted by status and level.",
    sql="""SELECT s.alert_status, l.level, count(c.alert_code) AS problems
FROM (VALUES ('FAILED_RUN'), ('MISSING'), ('RUNNING'), ('BLOCKED')) AS s (alert_status)
CROSS JOIN (VALUES (2, 'warning'), (3, 'critical')) AS l (alert_code, level)
LEFT JOIN {schema}.check_job_status() AS c
    ON c.alert_status = s.alert_status AND c.alert_code = l.alert_code
GROUP BY s.alert_status, l.level
ORDER BY s.alert_status, l.level""",
    labels=("alert_status", "level"),
    metrics=(
        Metric(
            "problems",
            "Problems that check_job_status() reports, by alert_status and level"
            " (warning: alert code 2, critical: 3).",
        ),
    ),
)

QUERIES = (JOBS, PROBLEMS)

# What each label holds, for the collector files that describe labels too.
LABELS = {
    "job_name": "The job's name, as job_log stores it.",
    "alert_status": "A status of check_job_status(): FAILED_RUN, MISSING, RUNNING or BLOCKED.",
    "level": "warning (alert code 2) or critical (alert code 3).",
}

UP = f"{PREFIX}_up"
UP_HELP = "1 when the database answered this scrape's queries, else 0."
