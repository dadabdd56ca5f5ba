"""`pg_jobmon watch`: alerts to a hook as they commit, late jobs, reconnection and catch-up,
run as the installed command against real clusters."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from command import command_environment, run_command
from fix_cluster import SCHEMA, Cluster, add_job, in_background, scalar, started_cluster, wait_until
from monitoring import ALERT_KEYS, configure, finished_job
from readme import readme_sql
from tcp_proxy import TcpProxy
from watching import Watch, hook_lines, watching

# The payload's keys, and the one watch adds.
EVENT_KEYS = ALERT_KEYS | {"caught_up"}
LATE_KEYS = {
    "event",
    "job_name",
    "alert_status",
    "alert_code",
    "alert_text",
    "previous_alert_code",
    "caught_up",
}
FAST = ["--interval", "0.2"]


def make_monitor(conn: psycopg.Connection) -> None:
    """The role `monitor` with the README's monitor grants, in ``conn``'s database."""
    conn.execute("CREATE ROLE monitor LOGIN")
    conn.execute(readme_sql("monitor"))


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a test checks of a failure event."""
    return (event["event"], event["job_id"], event["alert_code"], event["caught_up"])


def late(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a test checks of a late-job event."""
    return (
        event["event"],
        event["alert_status"],
        event["alert_code"],
        event["previous_alert_code"],
    )


def test_watch_help() -> None:
    done = run_command("watch", "--help")
    assert (done.returncode, done.stderr) == (0, "")
    for option in ("--exec COMMAND", "--exec-timeout", "--interval", "--report-existing"):
        assert option in done.stdout
    assert "watch" in run_command("-?").stdout


def test_hook_gets_raised_escalated_and_cleared_as_json(
    cluster: Cluster,
    db: str,
    conn: psycopg.Connection,
    monitor: psycopg.Connection,
    tmp_path: Path,
) -> None:
    """Run as the README's monitor role: its grants are all that watch needs."""
    out = tmp_path / "events"
    configure(conn, "FLAKY", escalate=2)
    environment = command_environment(cluster, db, PGUSER="monitor")
    with watching(["--exec", f"cat >> {shlex.quote(str(out))}"], environment):
        runs = [finished_job(conn, "flaky", fail_level=2) for _ in range(2)]
        # A failure cleared before watch reads job_check_log is no alert any more: the
        # good run waits until both failures were reported.
        wait_until(lambda: len(hook_lines(out)) >= 2, what="two hook runs")
        good = finished_job(conn, "flaky")
        wait_until(lambda: len(hook_lines(out)) >= 3, what="three hook runs")
    events = hook_lines(out)
    assert [summary(e) for e in events] == [
        ("raised", runs[0], 2, False),
        ("escalated", runs[1], 3, False),
        ("cleared", good, 1, False),
    ]
    assert all(set(e) == EVENT_KEYS for e in events)
    assert events[1]["status"] == "ESCALATED"
    assert (events[2]["job_name"], events[2]["owner"]) == ("FLAKY", "postgres")


def test_notifications_the_log_does_not_confirm_run_no_hook(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """Any role that may connect can send on the channel: watch reports only what job_log
    and job_check_log show, warns of the rest, and a malformed payload does not stop it."""
    good = finished_job(conn, "real")
    conn.execute("CREATE ROLE outsider LOGIN")
    try:
        with watching([], command_environment(cluster, db)) as watch:
            failed = finished_job(conn, "real", fail_level=3)
            assert summary(watch.event()) == ("raised", failed, 3, False)
            forged = [
                # No such run.
                alert("raised", 10**9, "FAKE", "outsider", "CRITICAL", 3),
                # A real run that ended well is no failure.
                alert("raised", good, "REAL", "postgres", "OK", 3),
                # The name's alert is still there: no clear.
                alert("cleared", good, "REAL", "postgres", "OK", 1),
                # Not the run's status: the failure was reported already.
                alert("raised", failed, "REAL", "postgres", "WARNING", 2),
                {"event": "raised", "job_id": "x", "job_name": "REAL", "alert_code": "y"},
            ]
            with cluster.connect(db, user="outsider") as outsider:
                for text in [*(json.dumps(payload) for payload in forged), "not json"]:
                    outsider.execute("SELECT pg_notify('pg_jobmon_alert', %s)", (text,))
            watch.wait_stderr("that the log does not confirm")
            watch.wait_stderr("that is no alert: 'not json'")
            cleared = finished_job(conn, "real")
            assert summary(watch.event()) == ("cleared", cleared, 1, False)
            watch.no_event(within=0.5)
            assert watch.process.poll() is None
    finally:
        conn.execute("DROP ROLE outsider")


def test_a_payload_cut_to_fit_gives_way_to_the_tables_values(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    name = "LONG " + "N" * 9000
    with watching([], command_environment(cluster, db)) as watch:
        failed = finished_job(conn, name, fail_level=3)
        event = watch.event()
    assert (event["job_id"], event["job_name"], event["truncated"]) == (failed, name, False)


def alert(event: str, job_id: int, name: str, owner: str, status: str, code: int) -> dict[str, Any]:
    """A payload with contract A's keys."""
    return {
        "event": event,
        "job_id": job_id,
        "job_name": name,
        "owner": owner,
        "status": status,
        "alert_code": code,
        "alert_text": status,
        "previous_alert_code": None,
        "failures": 1,
        "truncated": False,
    }


def test_a_failing_or_hanging_hook_does_not_stop_watch(
    cluster: Cluster, db: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    out = shlex.quote(str(tmp_path / "events"))
    hook = f'read -r line; echo "$line" >> {out}; case "$line" in *SLOW*) sleep 60;; esac; exit 3'
    environment = command_environment(cluster, db)
    with watching(["--exec", hook, "--exec-timeout", "1"], environment) as watch:
        names = ["slow", "broken", "next"]
        for name in names:
            finished_job(conn, name, fail_level=3)
        wait_until(lambda: len(hook_lines(tmp_path / "events")) == 3, what="three hooks")
        watch.wait_stderr('hook for raised event of job "SLOW" did not finish within 1 s')
        watch.wait_stderr("failed with exit status 3", count=2)
        assert watch.process.poll() is None
    assert [e["job_name"] for e in hook_lines(tmp_path / "events")] == ["SLOW", "BROKEN", "NEXT"]


def test_alerts_already_there_are_reported_only_when_asked(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    old = finished_job(conn, "old", fail_level=3)
    environment = command_environment(cluster, db)
    with watching([], environment) as watch:
        new = finished_job(conn, "new", fail_level=3)
        assert summary(watch.event()) == ("raised", new, 3, False)
        watch.no_event(0.5)
    with watching(["--report-existing"], environment) as watch:
        assert [summary(watch.event()) for _ in range(2)] == [
            ("raised", old, 3, True),
            ("raised", new, 3, True),
        ]


def test_a_missing_job_is_reported_when_it_appears_worsens_and_clears(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    configure(conn, "NIGHTLY", warn="2 seconds", error="4 seconds")
    finished_job(conn, "nightly")
    with watching(FAST, command_environment(cluster, db)) as watch:
        raised = watch.event()
        assert late(raised) == ("raised", "MISSING", 2, None)
        assert set(raised) == LATE_KEYS
        assert (raised["job_name"], raised["caught_up"]) == ("NIGHTLY", False)
        assert late(watch.event()) == ("changed", "MISSING", 3, 2)
        finished_job(conn, "nightly")
        cleared = watch.event()
        assert late(cleared) == ("cleared", "MISSING", 1, 3)
        assert cleared["alert_text"] == "OK"
        watch.no_event(0.6)


def test_a_run_too_long_is_reported_running_then_blocked(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    configure(conn, "LONG", warn="1 second", error="1 hour")
    finished_job(conn, "long")  # not missing: it ran
    conn.execute("CREATE TABLE gate (x integer)")
    job = f"""
        DO $$
        DECLARE v_job bigint := {SCHEMA}.add_job('long');
        BEGIN
            PERFORM pg_sleep(2);
            PERFORM count(*) FROM gate;
            PERFORM {SCHEMA}.close_job(v_job);
        END $$"""
    with (
        watching(FAST, command_environment(cluster, db)) as watch,
        cluster.connect(db) as runner,
        cluster.connect(db) as locker,
    ):
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE gate")
        with in_background(runner, job):
            try:
                assert late(watch.event()) == ("raised", "RUNNING", 2, None)
                assert sorted(late(watch.event()) for _ in range(2)) == [
                    ("cleared", "RUNNING", 1, 2),
                    ("raised", "BLOCKED", 2, None),
                ]
            finally:
                # The job waits for this lock: the block's end waits for the job.
                locker.execute("COMMIT")
        assert late(watch.event()) == ("cleared", "BLOCKED", 1, 2)


@pytest.mark.slow
def test_watch_reconnects_and_catches_up_what_it_missed(tmp_path: Path) -> None:
    """A server restart, then its backend terminated while its role may not log in:
    what changed meanwhile comes once, marked caught_up, and nothing is reported twice."""
    with started_cluster() as private:
        private.create_template()
        db = private.new_database()
        with private.connect(db) as conn:
            make_monitor(conn)
            environment = command_environment(private, db, PGUSER="monitor")
            with watching([], environment) as watch:
                first = finished_job(conn, "first", fail_level=3)
                assert summary(watch.event()) == ("raised", first, 3, False)
                conn.close()
                private.node.restart()
                watch.wait_stderr("connection to server was lost")
                watch.wait_stderr("caught up")
                with private.connect(db) as again:
                    _away(again, watch)


def _away(conn: psycopg.Connection, watch: Watch) -> None:
    """After the restart: a live failure, then a clear and a failure while away."""
    after_restart = finished_job(conn, "second", fail_level=3)
    assert summary(watch.event()) == ("raised", after_restart, 3, False)
    conn.execute("ALTER ROLE monitor NOLOGIN")
    pid = scalar(
        conn, "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_jobmon watch'"
    )
    assert scalar(conn, "SELECT pg_terminate_backend(%s, 10000)", (pid,))
    watch.wait_stderr("could not reconnect")
    good = finished_job(conn, "first")
    missed = finished_job(conn, "third", fail_level=3)
    conn.execute("ALTER ROLE monitor LOGIN")
    watch.wait_stderr("caught up", count=2)
    assert [summary(watch.event()) for _ in range(2)] == [
        ("cleared", good, 1, True),
        ("raised", missed, 3, True),
    ]
    live = finished_job(conn, "fourth", fail_level=3)
    assert summary(watch.event()) == ("raised", live, 3, False)
    watch.no_event(0.5)


def test_a_state_file_carries_what_was_reported_across_runs_of_watch(
    cluster: Cluster, db: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    """And SIGTERM or SIGINT end watch cleanly."""
    arguments = ["--state-file", str(tmp_path / "state.json")]
    environment = command_environment(cluster, db)
    with watching(arguments, environment) as watch:
        before = finished_job(conn, "before", fail_level=3)
        assert summary(watch.event()) == ("raised", before, 3, False)
        assert watch.stop(signal.SIGTERM) == 0
    while_stopped = finished_job(conn, "while stopped", fail_level=3)
    with watching(arguments, environment) as watch:
        assert summary(watch.event()) == ("raised", while_stopped, 3, True)
        watch.no_event(0.5)
        assert watch.stop(signal.SIGINT) == 0


def test_an_alert_that_sent_no_notification_is_found_within_an_interval(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """As when the server drops a notification because its queue is nearly full."""
    job = add_job(conn, "quiet")
    with watching(FAST, command_environment(cluster, db)) as watch:
        conn.execute(
            f"INSERT INTO {SCHEMA}.job_check_log (job_id, job_name, alert_code)"
            " VALUES (%s, 'QUIET', 3)",
            (job,),
        )
        assert summary(watch.event()) == ("raised", job, 3, True)
        watch.no_event(0.6)


@pytest.mark.slow
def test_watch_reconnects_when_the_network_stalls(
    cluster: Cluster, db: str, conn: psycopg.Connection
) -> None:
    """A path that stops passing anything (the kernels still acknowledge, so TCP sees
    nothing wrong): the next check gets no answer, watch cuts the connection and tries
    again until the path passes again, then reports what it missed."""
    with TcpProxy(cluster.node.host, cluster.node.port) as proxy:
        environment = command_environment(cluster, db, PGHOST=proxy.host, PGPORT=str(proxy.port))
        with watching([*FAST, "--connect-timeout", "1"], environment) as watch:
            proxy.freeze()
            watch.wait_stderr("connection to server was lost: no answer within 2 s")
            watch.wait_stderr("could not reconnect")
            missed = finished_job(conn, "cut off", fail_level=3)
            proxy.thaw()
            watch.wait_stderr("caught up")
            assert summary(watch.event()) == ("raised", missed, 3, True)
            watch.no_event(0.5)
