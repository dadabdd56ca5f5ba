"""`pg_jobmon COMMAND [options]`: the entry point, which hands over to one command module.

Each command module has `register(subparsers)`, which adds its parser (cli.parsing) and
sets the default `run`: a function of the parsed arguments that returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from cli import check, messages, metrics, parsing, watch

# The commands, in the order --help lists them.
COMMANDS: tuple[ModuleType, ...] = (check, watch, metrics)


def build_parser() -> argparse.ArgumentParser:
    parser = parsing.new_parser(
        messages.PROGRAM, "Checks, alerts and metrics of the jobs that pg_jobmon logs."
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, title="commands"
    )
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse `argv` and run its command; the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except parsing.UsageError as bad:
        return parsing.report_usage_error(bad, argv)
    try:
        status: int = args.run(args)
    except messages.CommandError as failed:
        messages.error(str(failed))
        return 1
    except KeyboardInterrupt:
        return 130
    return status


def main() -> NoReturn:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
