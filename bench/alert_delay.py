"""What the pg_jobmon_alert notification costs, and how soon a listener hears it.

Cost: in one session, CALLS rounds of a job that fails (fail_job raises the name's
alert) and a job of the same name that then ends well (close_job clears it), plus a good
close_job of a name that never fails (which sends nothing). Each call is timed alone by
the server's clock; its add_job is not counted. Run it on a build without the
notification too (an older checkout installed with the same pg_config) to compare.

Delay: a second session LISTENs; for DELAY_RUNS failures, the time from fail_job's
return in the client to the raised notification's arrival at the listener (a thread
of its own, waiting on the socket). Skipped on a build that sends no notification.

Run alone, as a user that may start PostgreSQL (the cluster is made from the pg_config
found first on PATH, or PG_CONFIG):  python -m bench.alert_delay [--calls N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from bench.cluster import SCHEMA, BenchCluster, bench_cluster

CHANNEL = "pg_jobmon_alert"
CALLS = 2000
DELAY_RUNS = 200

# One round: a failing run, then a good run of its name (clearing), then a good run of
# a name without alerts; each call timed alone (milliseconds). Each round fails a name
# of its own, as names fail in life: now and then, with vacuum in between. One name
# failing and clearing thousands of times in a minute would time the dead index entries
# that its own churn leaves, not the calls.
TIMED_ROUNDS = f"""
CREATE OR REPLACE FUNCTION pg_temp.timed_rounds(
    p_calls integer, OUT failing float8, OUT clearing float8, OUT quiet float8
)
    RETURNS SETOF record
    LANGUAGE plpgsql
AS $$
DECLARE
    v_job bigint;
    v_started timestamptz;
BEGIN
    FOR i IN 1 .. p_calls LOOP
        v_job := {SCHEMA}.add_job('BENCH FLAKY ' || i);
        v_started := clock_timestamp();
        PERFORM {SCHEMA}.fail_job(v_job);
        failing := extract(epoch FROM clock_timestamp() - v_started) * 1000;
        v_job := {SCHEMA}.add_job('BENCH FLAKY ' || i);
        v_started := clock_timestamp();
        PERFORM {SCHEMA}.close_job(v_job);
        clearing := extract(epoch FROM clock_timestamp() - v_started) * 1000;
        v_job := {SCHEMA}.add_job('BENCH STEADY');
        v_started := clock_timestamp();
        PERFORM {SCHEMA}.close_job(v_job);
        quiet := extract(epoch FROM clock_timestamp() - v_started) * 1000;
        RETURN NEXT;
    END LOOP;
END
$$
"""


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def _line(label: str, values: list[float]) -> str:
    return (
        f"| {label} | {len(values):,} | {statistics.median(values):.3f}"
        f" | {_p95(values):.3f} | {statistics.fmean(values):.3f} |"
    )


def measure_cost(cluster: BenchCluster, calls: int) -> str:
    """The table of per-call costs, for each synchronous_commit of the log writes."""
    lines = ["| call | calls | median ms | p95 ms | mean ms |", "|---|---:|---:|---:|---:|"]
    for synchronous_commit in ("on", "off"):
        # The logging connection is a session of this database: it takes the setting.
        with cluster.connect() as admin:
            admin.execute(
                f"ALTER DATABASE {cluster.dbname} SET synchronous_commit = {synchronous_commit}"
            )
        with cluster.connect() as conn:
            conn.execute(TIMED_ROUNDS)
            conn.execute("SELECT * FROM pg_temp.timed_rounds(50)")  # warm
            rows = conn.execute("SELECT * FROM pg_temp.timed_rounds(%s)", (calls,)).fetchall()
        for index, label in enumerate(
            ("fail_job, raises", "close_job, clears", "close_job, quiet")
        ):
            lines.append(
                _line(f"{label} (sync commit {synchronous_commit})", [r[index] for r in rows])
            )
    with cluster.connect() as admin:
        admin.execute(f"ALTER DATABASE {cluster.dbname} RESET synchronous_commit")
    return "\n".join(lines)


def _sends_alerts(cluster: BenchCluster) -> bool:
    with cluster.connect() as conn:
        row = conn.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL", (f"{SCHEMA}._notify_alert(text)",)
        ).fetchone()
    return bool(row and row[0])


def measure_delay(cluster: BenchCluster, runs: int) -> dict[str, list[float]]:
    """Milliseconds to the listener's receipt, from fail_job's return and from its call."""
    arrived: dict[int, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with cluster.connect() as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            ready.set()
            for notify in listener.notifies(timeout=60):
                now = time.perf_counter()
                if notify.payload == "stop":
                    return
                alert = json.loads(notify.payload)
                if alert["event"] == "raised":
                    arrived[alert["job_id"]] = now

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait(10)
    called: dict[int, float] = {}
    returned: dict[int, float] = {}
    with cluster.connect() as conn:
        for run in range(runs + 20):
            name = f"BENCH DELAY {run}"
            row = conn.execute(f"SELECT {SCHEMA}.add_job(%s)", (name,)).fetchone()
            assert row is not None
            job_id = int(row[0])
            called[job_id] = time.perf_counter()
            conn.execute(f"SELECT {SCHEMA}.fail_job(%s)", (job_id,))
            returned[job_id] = time.perf_counter()
            time.sleep(0.005)  # one alert at a time: the listener is idle when it comes
            # The next failure raises afresh.
            row = conn.execute(f"SELECT {SCHEMA}.add_job(%s)", (name,)).fetchone()
            assert row is not None
            conn.execute(f"SELECT {SCHEMA}.close_job(%s)", (row[0],))
        conn.execute("SELECT pg_notify(%s, 'stop')", (CHANNEL,))
    thread.join(60)
    missing = [job for job in returned if job not in arrived]
    if missing:
        raise RuntimeError(f"{len(missing)} notifications never arrived")
    jobs = sorted(returned)[20:]  # the first ones warm both sessions
    return {
        "fail_job's return": [(arrived[job] - returned[job]) * 1000 for job in jobs],
        "fail_job's call": [(arrived[job] - called[job]) * 1000 for job in jobs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_delay", description=__doc__)
    parser.add_argument("--calls", type=int, default=CALLS, help="timed rounds of calls")
    parser.add_argument("--runs", type=int, default=DELAY_RUNS, help="failures timed to arrival")
    options = parser.parse_args()
    with bench_cluster(None) as cluster:
        print(measure_cost(cluster, options.calls))
        if not _sends_alerts(cluster):
            print("\nThis build sends no alerts: no delay to measure.")
            return
        print()
        delays = measure_delay(cluster, options.runs)
    for start, values in delays.items():
        print(
            f"{start} to the listener's receipt, {len(values)} runs:"
            f" median {statistics.median(values):.3f} ms, p95 {_p95(values):.3f} ms,"
            f" max {max(values):.3f} ms"
        )


if __name__ == "__main__":
    main()
