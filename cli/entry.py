"""The installed command's entry point: where psycopg is missing, say so and how to get
it, rather than end in a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn


def main() -> NoReturn:
    try:
        from cli import main as program
    except ModuleNotFoundError as missing:
        if missing.name != "psycopg":
            raise
        print(
            f"pg_jobmon: error: the Python module psycopg is not installed for {sys.executable}\n"
            "pg_jobmon: hint: install psycopg 3 for that Python"
            " (Debian and Ubuntu: apt install python3-psycopg).",
            file=sys.stderr,
        )
        sys.exit(1)
    program.main()
