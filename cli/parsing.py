"""Argument parsers in psql's manner: -? and --help for help, since -h is the host.

A usage error does not end the process from inside argparse: it comes back to the entry
point as a UsageError, which the command that was asked for reports in its own way (a
Nagios plugin must answer UNKNOWN on stdout, not argparse's exit status 2 on stderr).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

from cli import messages

# What a command does with a usage error: print it its own way; the exit status.
UsageHandler = Callable[[str], int]
USAGE_STATUS = 2


class UsageError(Exception):
    """Bad arguments, found by ``parser``."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    on_usage_error: UsageHandler | None = None

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def new_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description, add_help=False)
    _add_help(parser)
    return parser


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    on_usage_error: UsageHandler | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The parser of one command: `summary` in the list of commands, `description` atop
    its own --help; `on_usage_error` reports its usage errors (default: psql's way)."""
    parser = subparsers.add_parser(
        name, help=summary, description=description, add_help=False, **kwargs
    )
    if isinstance(parser, _Parser):
        parser.on_usage_error = on_usage_error
    _add_help(parser)
    return parser


def report_usage_error(error: UsageError, argv: Sequence[str]) -> int:
    """Report ``error`` as the command named in ``argv`` wants it; the exit status.

    argparse reports arguments that no parser took ("unrecognized arguments") through
    the top parser: they still belong to the command named first.
    """
    parser = _command_parser(error.parser, argv)
    handler = getattr(parser, "on_usage_error", None)
    if handler is not None:
        return int(handler(str(error)))
    messages.error(str(error))
    messages.hint(f'Try "{parser.prog} --help" for more information.')
    return USAGE_STATUS


def _command_parser(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and argv:
            chosen = action.choices.get(argv[0])
            if isinstance(chosen, argparse.ArgumentParser):
                return chosen
    return parser


def _add_help(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-?", "--help", action="help", help="show this help, then exit")
