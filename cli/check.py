"""`pg_jobmon check`: the Nagios/Icinga plugin on check_job_status().

Whatever keeps it from an answer (bad arguments, no connection, an error, a server that
does not answer in time) makes it answer UNKNOWN (exit status 3), with the reason on
stdout, where Nagios reads it.
"""

from __future__ import annotations

import argparse
import sys

import psycopg
from psycopg import sql

from cli import connection, nagios, parsing
from cli.deadline import Deadline, DeadlineExceeded
from cli.messages import CommandError

DEFAULT_TIMEOUT = 20
# Time for the server's own statement_timeout error to arrive before the command stops
# waiting for it: that error says more than "no answer".
_GRACE = 2

_PROBLEMS = sql.SQL(
    "SELECT alert_code, alert_status, job_name, alert_text FROM {schema}.check_job_status()"
)
_PROBLEMS_OVER = sql.SQL(
    "SELECT alert_code, alert_status, job_name, alert_text"
    " FROM {schema}.check_job_status(%s::interval)"
)
# Contract of job_summary: a missing job's latest run counts from its end, else its start.
# NULL when none of the names has a run.
_OLDEST_MISSING = sql.SQL(
    "SELECT extract(epoch FROM max(now() - coalesce(last_end, last_start)))::float8"
    " FROM {schema}.job_summary WHERE job_name = ANY(%s)"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = parsing.add_command(
        subparsers,
        "check",
        "Nagios/Icinga plugin: the state of the jobs, from check_job_status()",
        "Run check_job_status() and report as a Nagios or Icinga plugin: the worst problem"
        " and performance data on the first line, then one line per problem. Exit status"
        " 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no answer, with the reason why).",
        on_usage_error=_usage_error,
    )
    parser.add_argument(
        "--period",
        metavar="INTERVAL",
        help="look for runs over this period: check_job_status(INTERVAL) (default: the"
        " longest threshold of job_check_config)",
    )
    parser.add_argument(
        "-t",
        "--timeout",
        type=connection.seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="statement_timeout of the queries; the check answers UNKNOWN when the server"
        " has not answered within the connect timeout plus this"
        f" (default: {DEFAULT_TIMEOUT})",
    )
    connection.add_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        limit = connection.connect_timeout(args) + args.timeout + _GRACE
        rows, oldest_missing = Deadline[tuple[list[nagios.Problem], float | None]]().run(
            limit, lambda: _ask(args)
        )
        status, output = nagios.report(rows, oldest_missing)
    except (CommandError, DeadlineExceeded, nagios.Unexpected) as failed:
        status, output = nagios.unknown(str(failed))
    except psycopg.Error as failed:
        status, output = nagios.unknown(_server_error(failed))
    sys.stdout.write(output)
    sys.stdout.flush()
    return status


def _ask(args: argparse.Namespace) -> tuple[list[nagios.Problem], float | None]:
    with connection.connect(args, "pg_jobmon check") as conn:
        conn.execute(
            "SELECT pg_catalog.set_config('statement_timeout', %s, false)", (f"{args.timeout}s",)
        )
        schema = connection.extension_schema(conn)
        # One transaction: the ages are measured at check_job_status()'s now().
        with conn.transaction():
            if args.period is None:
                cursor = conn.execute(_PROBLEMS.format(schema=schema))
            else:
                cursor = conn.execute(_PROBLEMS_OVER.format(schema=schema), (args.period,))
            rows = [nagios.Problem(*row) for row in cursor.fetchall()]
            return rows, _oldest_missing(conn, schema, rows)


def _oldest_missing(
    conn: psycopg.Connection, schema: sql.Identifier, rows: list[nagios.Problem]
) -> float | None:
    """Seconds since the oldest missing run (0 when none is missing); None when unknown:
    no missing job has a run, or job_summary cannot be read (then the check still
    reports the state, and says why the age is missing on stderr)."""
    missing = [row.job_name for row in rows if row.alert_status == "MISSING"]
    if not missing:
        return 0.0
    try:
        with conn.transaction():
            age = conn.execute(_OLDEST_MISSING.format(schema=schema), (missing,)).fetchone()
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable) as failed:
        print(
            f"pg_jobmon: warning: age of the oldest missing run unknown: {_server_error(failed)}",
            file=sys.stderr,
        )
        return None
    return None if age is None or age[0] is None else float(age[0])


def _server_error(failed: psycopg.Error) -> str:
    diag = failed.diag
    if diag.message_primary:
        return f"{diag.severity or 'ERROR'}: {diag.message_primary}"
    return str(failed).strip() or type(failed).__name__


def _usage_error(message: str) -> int:
    status, output = nagios.unknown(f"{message} (see pg_jobmon check --help)")
    sys.stdout.write(output)
    return status
