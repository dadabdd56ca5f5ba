"""Argument parsers in psql's manner: -? and --help for help, since -h is the host."""

from __future__ import annotations

import argparse
from typing import Any


def new_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, add_help=False)
    _add_help(parser)
    return parser


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The parser of one command: `summary` in the list of commands, `description` atop
    its own --help."""
    parser = subparsers.add_parser(
        name, help=summary, description=description, add_help=False, **kwargs
    )
    _add_help(parser)
    return parser


def _add_help(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-?", "--help", action="help", help="show this help, then exit")
