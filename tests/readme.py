"""The SQL examples of README.md, so that the tests run what the README tells users to run."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_sql(name: str) -> str:
    """The SQL block of the README that follows the marker ``<!-- sql:name -->``."""
    match = re.search(rf"<!-- sql:{name} -->\s*```sql\n(.*?)```", README.read_text(), re.S)
    assert match, f"README.md has no SQL block marked {name}"
    return match.group(1)
