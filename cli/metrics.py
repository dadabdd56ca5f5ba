"""`pg_jobmon metrics`: the jobs' figures in Prometheus' text format, printed once or
served over HTTP (`--listen`) for Prometheus to scrape.

The SQL and the metric names are those of cli/metrics_sql.py, which the collector files
of doc/collectors/ share. Served, one scrape runs at a time on one connection, opened
again whenever it is lost; a scrape that gets no answer from the database says
pg_jobmon_up 0 instead of failing, so that Prometheus tells "database down" from
"exporter down".
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from cli import connection, messages, metrics_sql, parsing, prometheus
from cli.deadline import Deadline, DeadlineExceeded
from cli.messages import CommandError

DEFAULT_TIMEOUT = 10
APPLICATION_NAME = "pg_jobmon metrics"
# How long the server waits for a scraper that connected to send its request.
_REQUEST_TIMEOUT = 10


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
        help="serve the metrics over HTTP at /metrics on this address (all interfaces"
        " when ADDR is left out) until SIGTERM or SIGINT, instead of printing them once",
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
    server_class = _IPv6Server if ":" in host else HTTPServer
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


class _IPv6Server(HTTPServer):
    address_family = socket.AF_INET6


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = _REQUEST_TIMEOUT
        server_version = "pg_jobmon"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                started = time.monotonic()
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
    """[ADDR:]PORT, ADDR an IPv6 address in brackets; an empty ADDR: all interfaces."""
    host, _, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not [ADDR:]PORT: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {text!r}")
    return host, number


def _show(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else (host or "0.0.0.0")
    return f"{shown}:{port}"
