"""What the command prints besides its results, in the way of psql and its kin.

Everything here goes to stderr, prefixed with the program's name, so that a command's
results on stdout stay clean for whatever reads them (Nagios, a pipe, a scraper).
"""

from __future__ import annotations

import sys

PROGRAM = "pg_jobmon"


class CommandError(Exception):
    """A failure to report as `pg_jobmon: error: <message>`, ending the command."""


def error(message: str) -> None:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr, flush=True)


def warning(message: str) -> None:
    print(f"{PROGRAM}: warning: {message}", file=sys.stderr, flush=True)


def hint(message: str) -> None:
    """A line that follows an error, saying what to do (psql's "Try ... --help")."""
    print(message, file=sys.stderr, flush=True)


def progress(message: str) -> None:
    """A line about what a long-running command is doing (watch, metrics --listen)."""
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)
