"""watch's --state-file: what it has reported, kept across its own restarts.

Written after each delivered event (to a temporary file renamed over the old one, so a
crash leaves the old state or the new, never half of one), and read at start: a watch
started again then reports what changed while it was not running, as after a reconnect.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cli.alerts import Known
from cli.lateness import Problems
from cli.messages import CommandError

_VERSION = 1


def load(path: Path) -> tuple[Known, Problems] | None:
    """The alerts and late jobs saved in ``path``, or None when it does not exist."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as failed:
        raise CommandError(f'could not read state file "{path}": {failed}') from None
    try:
        if data["version"] != _VERSION:
            raise ValueError(f"version {data['version']}")
        alerts: Known = {
            str(name): {int(job_id): int(code) for job_id, code in rows.items()}
            for name, rows in data["alerts"].items()
        }
        late: Problems = {
            (str(name), str(status)): int(code) for name, status, code in data["late"]
        }
    except (KeyError, TypeError, ValueError, AttributeError) as failed:
        raise CommandError(
            f'state file "{path}" is not one that pg_jobmon watch wrote ({failed})'
        ) from None
    return alerts, late


def save(path: Path, alerts: Known, late: Problems) -> None:
    data = {
        "version": _VERSION,
        "alerts": {
            name: {str(job_id): code for job_id, code in rows.items()}
            for name, rows in alerts.items()
        },
        "late": [[name, status, code] for (name, status), code in sorted(late.items())],
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)
