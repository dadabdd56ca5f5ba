"""`pg_jobmon metrics`: the jobs' figures in Prometheus' text format, printed once or
served over HTTP (`--listen`) for Prometheus to scrape.

The SQL and the metric names are those of cli/metrics_sql.py, which the collector files
of doc/collectors/ share. Served, each HTTP client has a thread of its own, so that a
slow or stuck one delays no other; the scrapes themselves run one at a time on one
database connection, opened again whenever it is lost. A scrape that gets no answer
from the database says pg_jobmon_up 0 instead of failing, so that Prometheus tells
"database down" from "exporter down".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from cli import connection, messages, metrics_sql, parsing, prometheus
from cli.deadline import Deadline, DeadlineExceeded
from cli.messages import CommandError

DEFAULT_TIMEOUT = 10
APPLICATION_NAME = "pg_jobmon metrics"
# The metrics show job names and failures to whoever can connect, and the server has
# neither authentication nor TLS: without ADDR it listens on the loopback interface only.
DEFAULT_ADDRESS = "127.0.0.1"
# A client that connected has this long, in all, to send its whole request (a scraper
# sends it at once), and this many bytes for it (a GET has a line and a few headers).
REQUEST_DEADLINE = 5.0
REQUEST_LIMIT = 8192
# Clients served at once: a thread each. Past that, the one that has been sending its
# request for longest makes room, so that idle connections cannot lock scrapers out.
MAX_CLIENTS = 32
# How long an answer may wait for a client that does not read it.
_WRITE_TIMEOUT = 10


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = parsing.add_command(
        subparsers,
        "metrics",
        "Prometheus metrics of the jobs, printed or served over HTTP",
        "Print the metrics of every job name (from the view job_summary) and the problems"
        " of check_job_status() in Prometheus' text format, or serve them at"
        " http://ADDR:PORT/metrics with --listen.",
    )
    parser.add_argument(
        "--window",
        metavar="INTERVAL",
        help="the window of the runs, failures and durations: pg_jobmon.summary_window"
        " for this session (default: the setting's value, else 1 day)",
    )
    parser.add_argument(
        "--listen",
        metavar="[ADDR:]PORT",
        type=_address,
        help="serve the metrics over HTTP at /metrics on this address (the loopback"
        f" interface, {DEFAULT_ADDRESS}, when ADDR is left out; 0.0.0.0 or [::] for all)"
        " until SIGTERM or SIGINT, instead of printing them once",
    )
    parser.add_argument(
        "-t",
        "--timeout",
        type=connection.seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="statement_timeout of the queries; a scrape gives up on a server that has"
        f" not answered within the connect timeout plus this (default: {DEFAULT_TIMEOUT})",
    )
    connection.add_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    collector = Collector(args)
    if args.listen is None:
        text, failure = collector.scrape()
        sys.stdout.write(text)
        sys.stdout.flush()
        if failure is not None:
            raise CommandError(failure)
        return 0
    return serve(collector, args.listen)


class Collector:
    """Runs the metrics' queries, on a connection kept from one scrape to the next."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._conn: psycopg.Connection | None = None
        self._schema = sql.Identifier("")
        self._deadline: Deadline[str] = Deadline()
        self._limit = connection.connect_timeout(args) + args.timeout + 1

    def scrape(self) -> tuple[str, str | None]:
        """The exposition, and why the database did not answer (None when it did)."""
        try:
            return self._deadline.run(self._limit, self._collect), None
        except (psycopg.Error, CommandError, DeadlineExceeded) as failed:
            return _up(0), _reason(failed)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _collect(self) -> str:
        """Runs in the deadline's thread, which alone touches the connection."""
        reused = self._conn is not None and not self._conn.closed
        try:
            return self._exposition(self._connection())
        except psycopg.Error:
            if not (self._lost() and reused):
                raise
        # The connection kept from the last scrape was gone (a restart): one new try.
        try:
            return self._exposition(self._connection())
        except psycopg.Error:
            self._lost()
            raise

    def _lost(self) -> bool:
        """Forget the connection if it is no longer usable; whether it was."""
        if self._conn is None:
            return True
        if not (self._conn.closed or self._conn.broken):
            return False
        self._conn.close()
        self._conn = None
        return True

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = connection.connect(self._args, APPLICATION_NAME)
        try:
            conn.execute(
                "SELECT pg_catalog.set_config('statement_timeout', %s, false)",
                (f"{self._args.timeout}s",),
            )
            if self._args.window is not None:
                conn.execute(
                    "SELECT pg_catalog.set_config('pg_jobmon.summary_window', %s, false)",
                    (self._args.window,),
                )
            self._schema = connection.extension_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _exposition(self, conn: psycopg.Connection) -> str:
        parts = []
        # One transaction: the problems and the jobs as of one moment.
        with conn.transaction():
            for query in metrics_sql.QUERIES:
                cursor = conn.execute(sql.SQL(query.sql).format(schema=self._schema))
                rows = cursor.fetchall()
                columns = [column.name for column in cursor.description or []]
                parts += [_family(query, metric, columns, rows) for metric in query.metrics]
        return _up(1) + "".join(parts)


def _family(
    query: metrics_sql.Query, metric: metrics_sql.Metric, columns: list[str], rows: list[Any]
) -> str:
    label_at = [(label, columns.index(label)) for label in query.labels]
    value_at = columns.index(metric.column)
    samples = [
        ({label: str(row[i]) for label, i in label_at}, float(row[value_at]))
        for row in rows
        if row[value_at] is not None
    ]
    return prometheus.family(query.metric_name(metric), metric.help, samples)


def _up(value: int) -> str:
    return prometheus.family(metrics_sql.UP, metrics_sql.UP_HELP, [({}, value)])


def _reason(failed: Exception) -> str:
    if isinstance(failed, psycopg.Error) and failed.diag.message_primary:
        return f"{failed.diag.severity or 'ERROR'}: {failed.diag.message_primary}"
    return " ".join(str(failed).split()) or type(failed).__name__


# ---------------------------------------------------------------------------------------
# Serving over HTTP


class _Stop(BaseException):
    """SIGTERM: end the server between two requests, or in the middle of one.

    Not an Exception, as KeyboardInterrupt is not: socketserver reports an Exception
    raised while it handles a request and goes on serving, which would ignore a SIGTERM
    that lands there."""


def serve(collector: Collector, address: tuple[str, int]) -> int:
    host, port = address
    server_class = _IPv6Server if ":" in host else _Server
    try:
        server = server_class((host, port), _handler(collector))
    except OSError as failed:
        raise CommandError(f"could not listen on {_show(host, port)}: {failed.strerror}") from None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, stop)
    bound_host, bound_port = server.server_address[:2]
    messages.progress(f"serving metrics on http://{_show(str(bound_host), bound_port)}/metrics")
    try:
        server.serve_forever()
    except (_Stop, KeyboardInterrupt):
        messages.progress("stopping")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        collector.close()
    return 0


class _Refused(OSError):
    """A client that broke the rules of a request: its connection is closed unanswered."""


class _Server(ThreadingHTTPServer):
    """A thread per client (daemon threads: SIGTERM does not wait for them), at most
    MAX_CLIENTS of them."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        # The connections still sending their request, oldest first.
        self._reading: dict[socket.socket, None] = {}
        self._reading_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._evict_oldest_reader()
            if not self._slots.acquire(timeout=1):
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.done_reading(request)
            self._slots.release()

    def reading(self, connection: socket.socket) -> None:
        with self._reading_lock:
            self._reading[connection] = None

    def done_reading(self, connection: socket.socket) -> None:
        with self._reading_lock:
            self._reading.pop(connection, None)

    def _evict_oldest_reader(self) -> None:
        # A shutdown wakes the thread's recv with an end of stream; the thread then ends
        # and gives its slot back.
        with self._reading_lock:
            oldest = next(iter(self._reading), None)
            if oldest is None:
                return
            del self._reading[oldest]
        with contextlib.suppress(OSError):
            oldest.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet for a client that went away or broke the rules; one line otherwise."""
        failed = sys.exc_info()[1]
        if not isinstance(failed, OSError):
            messages.error(f"could not answer {client_address[0]}: {failed}")


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _RequestReader(io.RawIOBase):
    """A client's socket, read with one deadline and one size limit for the whole
    request, however the client spreads its bytes."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._ends = time.monotonic() + REQUEST_DEADLINE
        self._left = REQUEST_LIMIT

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._ends - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no whole request within {REQUEST_DEADLINE:g} s")
        if self._left <= 0:
            raise _Refused(f"a request of more than {REQUEST_LIMIT} bytes")
        self._connection.settimeout(remaining)
        count = self._connection.recv_into(memoryview(buffer)[: self._left])
        self._left -= count
        return count


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    # The collector keeps one connection, used by one scrape at a time.
    scraping = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "pg_jobmon"

        def setup(self) -> None:
            super().setup()
            self.rfile.close()
            self.rfile = io.BufferedReader(_RequestReader(self.connection))
            self._server().reading(self.connection)

        def do_GET(self) -> None:
            # The request is read: from here the client can no longer be made room for.
            self._server().done_reading(self.connection)
            self.connection.settimeout(_WRITE_TIMEOUT)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                started = time.monotonic()
                with scraping:
                    text, failure = collector.scrape()
                if failure is not None:
                    messages.error(
                        f"scrape failed after {time.monotonic() - started:.1f} s: {failure}"
                    )
                self._answer(200, prometheus.CONTENT_TYPE, text)
            elif path == "/":
                self._answer(200, "text/plain; charset=utf-8", "pg_jobmon metrics: see /metrics\n")
            else:
                self._answer(404, "text/plain; charset=utf-8", "not found: see /metrics\n")

        def _server(self) -> _Server:
            assert isinstance(self.server, _Server)
            return self.server

        def _answer(self, status: int, content_type: str, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a scrape every few seconds is no news; failures are reported."""

    return Handler


def _address(text: str) -> tuple[str, int]:
    """[ADDR:]PORT, ADDR an IPv6 address in brackets; no ADDR: the loopback interface."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not [ADDR:]PORT: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {text!r}")
    return host or DEFAULT_ADDRESS, number


def _show(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"
