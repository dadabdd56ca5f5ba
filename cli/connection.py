"""Connecting as psql does: the same options, the PG* variables, and never a prompt.

libpq reads PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSFILE, PGSERVICE and the rest by
itself; the options below override them. A password comes only from the environment or
~/.pgpass: nothing here ever asks for one, so a command run by cron or Nagios cannot hang
on a prompt.
"""

from __future__ import annotations

import argparse
import os

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cli.messages import CommandError

DEFAULT_CONNECT_TIMEOUT = 10
# The prefixes that make psql take its dbname argument as a whole connection string.
_URI_PREFIXES = ("postgresql://", "postgres://")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The connection options of psql, with its short names."""
    group = parser.add_argument_group("connection options")
    group.add_argument("-h", "--host", help="database server host or socket directory")
    group.add_argument("-p", "--port", help="database server port")
    group.add_argument("-U", "--username", help="database user name")
    group.add_argument("-d", "--dbname", help="database name, or a connection string or URI")
    group.add_argument(
        "-w",
        "--no-password",
        action="store_true",
        help="never prompt for a password (always the case; accepted as psql does)",
    )
    group.add_argument(
        "--connect-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up connecting after this many seconds"
        f" (default: PGCONNECT_TIMEOUT, else {DEFAULT_CONNECT_TIMEOUT})",
    )


def conninfo(args: argparse.Namespace, application_name: str) -> str:
    """The connection string of the options, quoted by libpq's rules, not by hand."""
    dbname: str | None = args.dbname
    base = ""
    keywords: dict[str, str | int] = {}
    if dbname is not None and (dbname.startswith(_URI_PREFIXES) or "=" in dbname):
        base = dbname
    elif dbname is not None:
        keywords["dbname"] = dbname
    for keyword, value in (("host", args.host), ("port", args.port), ("user", args.username)):
        if value is not None:
            keywords[keyword] = value
    keywords["connect_timeout"] = _connect_timeout(args)
    keywords["application_name"] = application_name
    try:
        return make_conninfo(base, **keywords)
    except psycopg.ProgrammingError as bad:
        raise CommandError(f"invalid connection string: {bad}") from None


def connect(args: argparse.Namespace, application_name: str) -> psycopg.Connection:
    """An autocommit connection, or a CommandError that says why there is none."""
    try:
        return psycopg.connect(conninfo(args, application_name), autocommit=True)
    except psycopg.Error as failed:
        raise CommandError(str(failed).strip()) from None


def extension_schema(conn: psycopg.Connection) -> sql.Identifier:
    """The schema pg_jobmon is installed in, for qualified names in queries."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_catalog.pg_extension AS e"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_jobmon'"
    ).fetchone()
    if row is None:
        database = conn.info.dbname
        raise CommandError(f'extension "pg_jobmon" is not installed in database "{database}"')
    return sql.Identifier(row[0])


def connect_timeout(args: argparse.Namespace) -> int:
    """Seconds to give up connecting after: the option, PGCONNECT_TIMEOUT or the default."""
    return _connect_timeout(args)


def seconds(text: str) -> int:
    """An option's whole number of seconds, at least 1 (an argparse type)."""
    return _seconds(text)


def _connect_timeout(args: argparse.Namespace) -> int:
    if args.connect_timeout is not None:
        return int(args.connect_timeout)
    from_environment = os.environ.get("PGCONNECT_TIMEOUT", "").strip()
    if from_environment:
        return int(_seconds(from_environment))
    return DEFAULT_CONNECT_TIMEOUT


def _seconds(text: str) -> int:
    """A whole number of seconds, at least 1: libpq takes 0 as "wait for ever"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {text!r}")
    return value
