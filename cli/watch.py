"""`pg_jobmon watch`: each alert of pg_jobmon as it happens, to a hook or to stdout.

Failures come as notifications on pg_jobmon_alert (cli/listener.py, cli/alerts.py),
late jobs from check_job_status() every --interval (cli/lateness.py); each event goes to
the --exec hook or out as a JSON line (cli/hooks.py). A lost connection is opened again
with a bounded backoff, and what changed meanwhile is read from job_check_log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Union

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cli import connection, messages, parsing, state
from cli.alerts import AlertBook, AlertRow, Run
from cli.hooks import Hook
from cli.lateness import LatenessBook
from cli.listener import APPLICATION_NAME, CHANNEL, LIVENESS, Listener

DEFAULT_INTERVAL = 60.0
DEFAULT_EXEC_TIMEOUT = 60.0
# Reconnection waits 1, 2, 4, ... seconds, never more than this.
MAX_BACKOFF = 30.0

Book = Union[AlertBook, LatenessBook]

DESCRIPTION = """\
Listen for the alerts of pg_jobmon (a job's failure raised, escalated or cleared) and
report each as it commits; every --interval also report late jobs (MISSING, RUNNING too
long, BLOCKED) when they appear, change and clear. Each event is one JSON object: given
to the --exec command on its stdin, else printed as one line on stdout. After a lost
connection watch connects again by itself and reports what changed while it was away."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = parsing.add_command(
        subparsers,
        "watch",
        "run a command for each alert as it happens",
        DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("watch options")
    group.add_argument(
        "--exec",
        metavar="COMMAND",
        dest="exec_command",
        help="run COMMAND (by /bin/sh -c) for each event, its JSON on stdin"
        " (default: print each event as a JSON line)",
    )
    group.add_argument(
        "--exec-timeout",
        type=_positive_seconds,
        default=DEFAULT_EXEC_TIMEOUT,
        metavar="SECONDS",
        help=f"kill a hook still running after SECONDS (default: {DEFAULT_EXEC_TIMEOUT:g})",
    )
    group.add_argument(
        "--interval",
        type=_positive_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"run check_job_status() for late jobs every SECONDS (default: {DEFAULT_INTERVAL:g})",
    )
    group.add_argument(
        "--report-existing",
        action="store_true",
        help="at start, report the alerts and late jobs already there (default: only what changes)",
    )
    group.add_argument(
        "--state-file",
        type=Path,
        metavar="PATH",
        help="keep what was reported in PATH, so that watch started again"
        " reports what changed while it was not running",
    )
    connection.add_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with _stop_signals() as stop:
        return _Watch(args, stop).run()


class _Stop:
    """Set by SIGTERM or SIGINT; ``fd`` becomes readable then, which ends a wait."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.requested = False

    def sleep(self, seconds: float) -> None:
        if not self.requested:
            select.select([self.fd], [], [], seconds)


@contextmanager
def _stop_signals() -> Iterator[_Stop]:
    """SIGTERM and SIGINT ask watch to stop, which it does between two events: a hook
    that runs goes to its end, and nothing half-delivered is counted as known."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    stop = _Stop(read_fd)

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.requested = True

    previous = {number: signal.signal(number, handler) for number in _STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(previous_fd)
        for number, old in previous.items():
            signal.signal(number, old)
        os.close(read_fd)
        os.close(write_fd)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Watch:
    def __init__(self, args: argparse.Namespace, stop: _Stop) -> None:
        self.args = args
        self.stop = stop
        self.hook = Hook(args.exec_command, args.exec_timeout)
        self.state_path: Path | None = args.state_file
        self.alerts = AlertBook()
        self.late = LatenessBook()
        self.conninfo = make_conninfo(
            connection.conninfo(args, APPLICATION_NAME), client_encoding="UTF8", **LIVENESS
        )
        # How long the server may take to answer watch's few small queries: twice the
        # connect timeout, so that one option bounds every wait on the server.
        self.answer_within = 2.0 * float(str(conninfo_to_dict(self.conninfo)["connect_timeout"]))
        self.listener: Listener | None = None

    def run(self) -> int:
        saved = state.load(self.state_path) if self.state_path is not None else None
        if saved is not None:
            self.alerts.known, self.late.known = saved
        # What is already there at the very first start is reported only when asked for;
        # from a state file, or after a reconnection, what changed always is.
        report = saved is not None or self.args.report_existing
        try:
            listener = Listener.open(self.conninfo, self.answer_within)
        except psycopg.Error as failed:
            raise messages.CommandError(_one_line(failed)) from None
        # Late jobs found by the first check count as caught up when compared with a
        # state file, as after a reconnection.
        caught_up = saved is not None
        while True:
            try:
                self._session(listener, report, caught_up)
                listener.close()
                return 0
            except psycopg.Error as failed:
                if not _is_lost(listener, failed):
                    listener.close()
                    raise messages.CommandError(_one_line(failed)) from None
                cause = (
                    f"no answer within {self.answer_within:g} s"
                    if listener.cut
                    else _one_line(failed)
                )
                messages.progress(f"connection to server was lost: {cause}")
            listener.close()
            reopened = self._reconnect()
            if reopened is None:
                return 0
            listener, report, caught_up = reopened, True, True

    def _reconnect(self) -> Listener | None:
        """A new listening connection, after as many tries as it takes; None if asked to
        stop meanwhile."""
        delay = 1.0
        while not self.stop.requested:
            try:
                listener = Listener.open(self.conninfo, self.answer_within)
            except psycopg.Error as failed:
                messages.progress(
                    f"could not reconnect: {_one_line(failed)}; trying again in {delay:g} s"
                )
                self.stop.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            messages.progress("reconnected to server; catching up from job_check_log")
            return listener
        return None

    def _session(self, listener: Listener, report: bool, caught_up: bool) -> None:
        """Catch up, then deliver events until asked to stop (or the connection fails)."""
        conn = listener.conn
        self.listener = listener
        with listener.deadline():
            schema = connection.extension_schema(conn)
            cleared_text = self._cleared_text(conn, schema)
        if not self._reconcile(conn, schema, cleared_text, report):
            return
        self._poll(conn, schema, cleared_text, report, caught_up)
        if self.stop.requested:
            return
        what = "caught up" if caught_up else f'watching database "{conn.info.dbname}"'
        messages.progress(
            f"{what}; listening on {CHANNEL}, late jobs checked every {self.args.interval:g} s"
        )
        next_poll = time.monotonic() + self.args.interval
        while not self.stop.requested:
            while listener.pending and not self.stop.requested:
                self._heard(conn, schema, listener.pending.popleft())
            if self.stop.requested:
                return
            if time.monotonic() >= next_poll:
                # Also read job_check_log again: an alert whose notification was never
                # sent (the server drops it when the notification queue is nearly full)
                # is reported within an interval all the same.
                listener.wait(0)
                if listener.pending:
                    continue
                if not self._reconcile(conn, schema, cleared_text, report=True):
                    return
                self._poll(conn, schema, cleared_text, report=True, caught_up=False)
                next_poll = time.monotonic() + self.args.interval
                continue
            listener.wait(next_poll - time.monotonic(), self.stop.fd)
            _drain(self.stop.fd)

    def _reconcile(
        self, conn: psycopg.Connection, schema: sql.Identifier, cleared_text: str, report: bool
    ) -> bool:
        """Report what job_check_log holds that was not reported; False if asked to stop.

        LISTEN came first: a change committed from here on is either in these rows or in
        a notification still to be read, which the book then knows to drop."""
        with self._deadline():
            rows = _alert_rows(conn, schema)
            events = self.alerts.catch_up(
                rows, lambda name: _latest_run(conn, schema, name, cleared_text), cleared_text
            )
        if not self._deliver(events, self.alerts, report):
            return False
        self.alerts.replace(rows)
        self._save()
        return True

    def _deadline(self) -> contextlib.AbstractContextManager[None]:
        assert self.listener is not None
        deadline: contextlib.AbstractContextManager[None] = self.listener.deadline()
        return deadline

    def _heard(self, conn: psycopg.Connection, schema: sql.Identifier, payload: str) -> None:
        try:
            decoded: Any = json.loads(payload)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict) or "event" not in decoded:
            messages.warning(
                f"ignored a notification on {CHANNEL} that is no alert: {payload[:80]!r}"
            )
            return
        event = self.alerts.live(decoded)
        if event is None:
            return
        with self._deadline():
            confirmed = _confirmed(conn, schema, event, self.alerts.known.get(event["job_name"]))
        if confirmed is None:
            messages.warning(
                f"ignored a notification on {CHANNEL} that the log does not confirm:"
                f" {payload[:80]!r}"
            )
            return
        self._deliver([confirmed], self.alerts, report=True)

    def _poll(
        self,
        conn: psycopg.Connection,
        schema: sql.Identifier,
        cleared_text: str,
        report: bool,
        caught_up: bool,
    ) -> None:
        rows = conn.execute(
            sql.SQL(
                "SELECT alert_code, alert_status, job_name, alert_text FROM {}.check_job_status()"
            ).format(schema)
        ).fetchall()
        self._deliver(self.late.compare(rows, cleared_text, caught_up), self.late, report)

    def _deliver(self, events: list[dict[str, Any]], book: Book, report: bool) -> bool:
        """Deliver ``events`` in order (or, not reporting, just count them as known);
        False when asked to stop before the last."""
        for event in events:
            if self.stop.requested:
                return False
            if report:
                self.hook.deliver(event)
            book.apply(event)
            self._save()
        return not self.stop.requested

    def _save(self) -> None:
        if self.state_path is not None:
            try:
                state.save(self.state_path, self.alerts.known, self.late.known)
            except OSError as failed:
                messages.warning(f'could not write state file "{self.state_path}": {failed}')

    @staticmethod
    def _cleared_text(conn: psycopg.Connection, schema: sql.Identifier) -> str:
        row = conn.execute(
            sql.SQL("SELECT alert_text FROM {}.job_status_text WHERE alert_code = 1").format(schema)
        ).fetchone()
        return str(row[0]) if row is not None else "OK"


def _alert_rows(conn: psycopg.Connection, schema: sql.Identifier) -> list[AlertRow]:
    rows = conn.execute(
        sql.SQL(
            "SELECT l.job_id, l.job_name, l.alert_code, t.alert_text, j.owner, j.status"
            " FROM {schema}.job_check_log AS l"
            " LEFT JOIN {schema}.job_log AS j ON j.job_id = l.job_id"
            " LEFT JOIN {schema}.job_status_text AS t ON t.alert_code = l.alert_code"
            " ORDER BY l.job_id"
        ).format(schema=schema)
    ).fetchall()
    return [AlertRow(*row) for row in rows]


def _confirmed(
    conn: psycopg.Connection,
    schema: sql.Identifier,
    event: dict[str, Any],
    known: dict[int, int] | None,
) -> dict[str, Any] | None:
    """``event`` as job_log confirms it, or None.

    Any session may send a notification on the channel, so a hook is run only for what
    the log shows: the run exists under that name, owner and status; a failure's run
    ended, not well; and for a clear, none of the name's alerts that watch knew is left
    in job_check_log. A payload cut to fit NOTIFY's limit gets its
    name, owner and status back in full from job_log.
    """
    job_id, cleared = event.get("job_id"), event["event"] == "cleared"
    if not all(_is_int(event.get(key)) for key in ("job_id", "alert_code")):
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT j.job_name, j.owner, j.status, CASE WHEN %(cleared)s"
            "     THEN NOT EXISTS (SELECT FROM {schema}.job_check_log AS l"
            "                      WHERE l.job_id = ANY(%(alerted)s))"
            "     ELSE j.status <> (SELECT t.alert_text FROM {schema}.job_status_text AS t"
            "                       WHERE t.alert_code = 1) END"
            " FROM {schema}.job_log AS j WHERE j.job_id = %(job_id)s"
        ).format(schema=schema),
        {"job_id": job_id, "cleared": cleared, "alerted": list(known or ())},
    ).fetchone()
    if row is None or not row[3]:
        return None
    name, owner, status = row[0], row[1], row[2]
    if event.get("truncated"):
        return {**event, "job_name": name, "owner": owner, "status": status}
    if (name, owner, status) != (event["job_name"], event.get("owner"), event.get("status")):
        return None
    return event


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _latest_run(conn: psycopg.Connection, schema: sql.Identifier, name: str, good: str) -> Run:
    """The run that most likely cleared ``name``'s alert: its latest good run, else (the
    alert was cleared by hand) its latest ended run."""
    row = conn.execute(
        sql.SQL(
            "SELECT job_id, owner, status FROM {}.job_log"
            " WHERE job_name = %s AND status IS NOT NULL"
            " ORDER BY status = %s DESC, start_time DESC LIMIT 1"
        ).format(schema),
        (name, good),
    ).fetchone()
    return Run(*row) if row is not None else Run(None, None, None)


def _is_lost(listener: Listener, failed: psycopg.Error) -> bool:
    """Whether ``failed`` lost the connection (try again) rather than refused a query
    (a missing grant: no use trying again)."""
    return isinstance(failed, psycopg.OperationalError) or listener.conn.broken


def _one_line(failed: BaseException) -> str:
    return " ".join(line.strip() for line in str(failed).splitlines() if line.strip())


def _drain(fd: int) -> None:
    """Empty the wake-up pipe, so that the next wait waits."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value
