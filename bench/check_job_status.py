"""check_job_status() on a big log: its plan and its time.

A throwaway cluster with a million jobs in job_log and 100 configured jobs (see
tests/monitoring.py, fill_big_log). Prints the plan of the query inside
check_job_status(), from auto_explain, and the time of 50 calls.
Run as a user that may start PostgreSQL: python bench/check_job_status.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fix_cluster import SCHEMA, started_cluster
from monitoring import check_job_status, fill_big_log

CALLS = 50


def main() -> None:
    with started_cluster() as cluster:
        cluster.create_template()
        db = cluster.new_database()
        with cluster.connect(db) as conn:
            started = time.perf_counter()
            fill_big_log(conn)
            print(f"filled job_log in {time.perf_counter() - started:.1f} s")
            rows = conn.execute(f"SELECT count(*) FROM {SCHEMA}.job_log").fetchone()
            print(f"job_log rows: {rows[0] if rows else 0}")
            for row in check_job_status(conn):
                print("  ", row)
            plans: list[str] = []
            conn.add_notice_handler(lambda notice: plans.append(str(notice.message_primary)))
            conn.execute("LOAD 'auto_explain'")
            conn.execute(
                "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
                " SET auto_explain.log_nested_statements = on;"
                " SET auto_explain.log_level = notice"
            )
            check_job_status(conn)
            conn.execute("SET auto_explain.log_min_duration = -1")
            print(max(plans, key=len))
            times = []
            for _ in range(CALLS):
                started = time.perf_counter()
                check_job_status(conn)
                times.append(time.perf_counter() - started)
            median_ms = statistics.median(times) * 1000
            print(f"check_job_status(), {CALLS} calls: median {median_ms:.2f} ms,", end="")
            print(f" max {max(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
