"""The examples of README.md and doc/, so that the tests run what users are told to run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MONITORING = ROOT / "doc" / "monitoring.md"
REFERENCE = ROOT / "doc" / "pg_jobmon.md"


def marked_block(document: Path, kind: str, name: str) -> str:
    """The code block of ``document`` that follows the marker ``<!-- kind:name -->``."""
    pattern = rf"<!-- {kind}:{name} -->\s*```\w*\n(.*?)```"
    match = re.search(pattern, document.read_text(), re.S)
    assert match, f"{document.name} has no block marked {kind}:{name}"
    return match.group(1)


def readme_sql(name: str) -> str:
    """The SQL block of the README that follows the marker ``<!-- sql:name -->``."""
    return marked_block(README, "sql", name)


def reference_sql(name: str) -> str:
    """The SQL block of doc/pg_jobmon.md that follows the marker ``<!-- sql:name -->``."""
    return marked_block(REFERENCE, "sql", name)
