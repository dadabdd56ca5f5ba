"""`pg_jobmon watch`: each alert of pg_jobmon as it happens, to a hook or to stdout.

Failures are read from job_check_log and job_log alone (cli/alerts.py), again whenever a
notification on pg_jobmon_alert points at a job (cli/listener.py, cli/hints.py), late
jobs from check_job_status() every --interval (cli/lateness.py); each event goes to
the --exec hook or out as a JSON line (cli/hooks.py). A lost connection is opened again
with a bounded backoff, and what changed meanwhile is read from job_check_log.
"""

from __future__ import annotations

import argparse
import contextlib
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
from cli.hints import Hints
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
            # One wake-up reads again what all the notifications heard so far point at;
            # then the interval's work comes in its turn, however many keep coming.
            heard = listener.pending or listener.overflowed
            if heard and not self._wake(conn, schema, cleared_text):
                return
            if time.monotonic() >= next_poll:
                # Also read job_check_log again: an alert whose notification was never
                # sent (the server drops it when the notification queue is nearly full)
                # is reported within an interval all the same.
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
        a notification still to be read, whose own read then finds nothing new."""
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

    def _wake(self, conn: psycopg.Connection, schema: sql.Identifier, cleared_text: str) -> bool:
        """Read again the names the pending notifications point at, and report what
        changed there, as found in the tables alone; False if asked to stop."""
        assert self.listener is not None
        hints = Hints(*self.listener.take())
        names_of: dict[int, str] = {}
        with self._deadline():
            if hints.everything:
                names: set[str] | None = None
                rows = _alert_rows(conn, schema)
            else:
                names_of = _names_of(conn, schema, hints.job_ids)
                names = hints.names | set(names_of.values())
                rows = _alert_rows(conn, schema, names) if names else []
            events = self.alerts.changes(
                rows,
                lambda name: _latest_run(conn, schema, name, cleared_text),
                cleared_text,
                names,
                caught_up=False,
            )
        unconfirmed = hints.unconfirmed(names_of, events, self.alerts.was_reported)
        _warn_ignored(hints, unconfirmed)
        if not self._deliver(events, self.alerts, report=True):
            return False
        self.alerts.replace(rows, names)
        self._save()
        return True

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


def _alert_rows(
    conn: psycopg.Connection, schema: sql.Identifier, names: set[str] | None = None
) -> list[AlertRow]:
    """The rows of job_check_log (of ``names`` only, unless None), with their runs."""
    # Two statements, not one with "$1 OR ...": a name's rows come by its index.
    only = sql.SQL("") if names is None else sql.SQL(" WHERE l.job_name = ANY(%s::text[])")
    rows = conn.execute(
        sql.SQL(
            "SELECT l.job_id, l.job_name, l.alert_code, t.alert_text, j.owner, j.status"
            " FROM {schema}.job_check_log AS l"
            " LEFT JOIN {schema}.job_log AS j ON j.job_id = l.job_id"
            " LEFT JOIN {schema}.job_status_text AS t ON t.alert_code = l.alert_code"
            "{only} ORDER BY l.job_id"
        ).format(schema=schema, only=only),
        None if names is None else (sorted(names),),
    ).fetchall()
    return [AlertRow(*row) for row in rows]


def _names_of(
    conn: psycopg.Connection, schema: sql.Identifier, job_ids: list[int]
) -> dict[int, str]:
    """The job names of those of ``job_ids`` that are runs in job_log."""
    if not job_ids:
        return {}
    rows = conn.execute(
        sql.SQL("SELECT job_id, job_name FROM {}.job_log WHERE job_id = ANY(%s::bigint[])").format(
            schema
        ),
        (job_ids,),
    ).fetchall()
    return {int(job_id): str(name) for job_id, name in rows}


def _warn_ignored(hints: Hints, unconfirmed: int) -> None:
    """One line per wake-up, however many notifications it ignored."""
    if hints.everything:
        messages.warning(
            f"{hints.heard} notifications on {CHANNEL} at once; read all of job_check_log instead"
        )
    if hints.malformed:
        messages.warning(
            f"ignored {_notifications(hints.malformed)} on {CHANNEL} that {_is(hints.malformed)}"
            f" no alert: {hints.first_malformed!r}"
        )
    if unconfirmed:
        messages.warning(
            f"ignored {_notifications(unconfirmed)} on {CHANNEL} that the log does not confirm"
        )


def _notifications(count: int) -> str:
    return "a notification" if count == 1 else f"{count} notifications"


def _is(count: int) -> str:
    return "is" if count == 1 else "are"


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
