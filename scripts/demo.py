"""make demo: a throwaway cluster, pg_jobmon installed, a job that fails, its log intact,
the failure pushed to a listener, reported by check_job_status() and by `pg_jobmon check`.

Run by `make demo` as the unprivileged cluster user, with the test virtualenv's Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import testgres

JOB_FUNCTION = """
CREATE FUNCTION nightly_load() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_job bigint;
    v_step bigint;
    v_detail text;
BEGIN
    v_job := jobmon.add_job('nightly load');

    v_step := jobmon.add_step(v_job, 'Copy yesterday''s orders into the archive');
    INSERT INTO orders_archive SELECT g, 'order ' || g FROM generate_series(1, 1000) AS g;
    PERFORM jobmon.update_step(v_step, 'OK', 'Copied 1000 orders');

    v_step := jobmon.add_step(v_job, 'Copy the order with a missing reference');
    BEGIN
        INSERT INTO orders_archive VALUES (1001, NULL);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
        -- The step records the error, the job fails; then the error goes on, and the
        -- job's transaction rolls back.
        PERFORM jobmon.fail_job_with_error(v_job, v_step, SQLSTATE, SQLERRM, v_detail);
        RAISE;
    END;

    PERFORM jobmon.close_job(v_job);
END
$$;
"""


def show(conn: psycopg.Connection, title: str, query: str) -> None:
    cursor = conn.execute(query)
    rows = cursor.fetchall()
    names = [column.name for column in cursor.description or []]
    cells = [names] + [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(names))]
    print(f"\n{title}")
    for number, row in enumerate(cells):
        print("  " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)))
        if number == 0:
            print("  " + "-+-".join("-" * width for width in widths))
    if not rows:
        print("  (no rows)")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pg_jobmon-demo-") as base:
        sockets = Path(base) / "sockets"
        sockets.mkdir()
        node = testgres.get_new_node(base_dir=str(Path(base) / "node"))
        node.init(initdb_params=["--encoding=UTF8", "--locale=C"])
        node.append_conf(unix_socket_directories=str(sockets), log_statement="none")
        node.start()
        try:
            print(f"Throwaway cluster on port {node.port}, sockets in {sockets}")
            run_demo(node)
        finally:
            node.cleanup()
    return 0


def connect(node: testgres.PostgresNode) -> psycopg.Connection:
    return psycopg.connect(
        host=node.host, port=node.port, dbname="postgres", user="postgres", autocommit=True
    )


def run_demo(node: testgres.PostgresNode) -> None:
    with connect(node) as conn, connect(node) as listener:
        conn.execute("CREATE SCHEMA jobmon")
        conn.execute("CREATE EXTENSION pg_jobmon SCHEMA jobmon CASCADE")
        print("CREATE EXTENSION pg_jobmon SCHEMA jobmon CASCADE: done, no configuration")
        conn.execute("CREATE TABLE orders_archive (id int PRIMARY KEY, label text NOT NULL)")
        conn.execute(JOB_FUNCTION)
        conn.execute(
            "INSERT INTO jobmon.job_check_config"
            " (job_name, warn_threshold, error_threshold, active)"
            " VALUES ('NIGHTLY LOAD', '25 hours', '26 hours', true)"
        )
        print("Monitoring configured: NIGHTLY LOAD must complete a good run every 25 hours")
        conn.execute(
            "INSERT INTO jobmon.job_retention (job_name, keep_succeeded, keep_failed)"
            " VALUES ('*', '30 days', '1 year')"
        )
        print("Retention configured: successful runs kept 30 days, failed runs a year")
        # Two good runs of 40 days ago, as a long-lived log would hold.
        conn.execute(
            "INSERT INTO jobmon.job_log (owner, job_name, start_time, end_time, status, pid)"
            " SELECT current_user, 'NIGHTLY LOAD', t, t + interval '5 minutes', 'OK', 0"
            " FROM (VALUES (now() - interval '41 days'), (now() - interval '40 days')) AS v(t)"
        )
        show(
            conn,
            "The log's history so far:",
            "SELECT job_id, start_time::date, status FROM jobmon.job_log",
        )

        listener.execute("LISTEN pg_jobmon_alert")
        print("\nAnother session listens for alerts: LISTEN pg_jobmon_alert;")

        print("\nRunning the job: SELECT nightly_load();")
        try:
            conn.execute("SELECT nightly_load()")
        except psycopg.Error as error:
            print(f"  the job failed: {error.diag.sqlstate} {error.diag.message_primary}")

        print("\nThe listener was told at once, by the log write's own commit:")
        for alert in listener.notifies(timeout=5, stop_after=1):
            print(f"  {alert.channel}: {json.dumps(json.loads(alert.payload))}")
        show(
            conn,
            "Its work was rolled back:",
            "SELECT count(*) AS archived FROM orders_archive",
        )
        show(
            conn,
            "Its log survived (jobmon.job_log):",
            "SELECT job_id, owner, job_name, status, pid FROM jobmon.job_log",
        )
        show(
            conn,
            "and its steps (jobmon.job_detail):",
            "SELECT step_id, action, status, message, round(elapsed_time::numeric, 4) AS seconds"
            " FROM jobmon.job_detail ORDER BY step_id",
        )
        show(
            conn,
            "with the failed step's error, as the handler caught it:",
            "SELECT step_id, sqlstate, error_detail FROM jobmon.job_detail"
            " WHERE sqlstate IS NOT NULL",
        )
        print(
            "\nThe runs of 40 days ago are gone: when this run ended, retention deleted"
            " them on the logging connection (no scheduler)."
        )
        show(
            conn,
            "The session's one logging connection, as pg_stat_activity shows it:",
            "SELECT pid, usename, application_name FROM pg_stat_activity"
            " WHERE application_name LIKE 'pg_jobmon%'",
        )
        show(
            conn,
            "The failure is recorded in jobmon.job_check_log, by the trigger on job_log:",
            "SELECT * FROM jobmon.job_check_log",
        )
        show(
            conn,
            "and the monitoring query reports it: SELECT * FROM jobmon.check_job_status();",
            "SELECT * FROM jobmon.check_job_status()",
        )
        show(
            conn,
            "A dashboard's row per job name: SELECT ... FROM jobmon.job_summary;",
            "SELECT job_name, last_status, last_success, alert_code, runs, failures"
            " FROM jobmon.job_summary",
        )
    run_check(node)


def run_check(node: testgres.PostgresNode) -> None:
    """The Nagios plugin installed with the extension, as Nagios would run it."""
    arguments = ["check", "-h", node.host, "-p", str(node.port), "-U", "postgres"]
    print(f"\nThe same, as a Nagios check: pg_jobmon {' '.join(arguments)}")
    done = subprocess.run(
        [testgres.get_bin_path("pg_jobmon"), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        print(f"  {line}")
    print(f"  (exit status {done.returncode}: 2 is CRITICAL to Nagios)")


if __name__ == "__main__":
    sys.exit(main())
