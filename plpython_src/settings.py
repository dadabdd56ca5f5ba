"""pg_jobmon's own settings: custom parameters read from the caller's session.

They are ordinary placeholder parameters (``SET pg_jobmon.lock_timeout = '2s'``, or in
postgresql.conf, ALTER DATABASE / ROLE ... SET), read only when a call needs them.
Their values follow PostgreSQL's own time parameters: a number with an optional unit,
milliseconds when it has none.
"""

from __future__ import annotations

import re

from . import caller
from ._plpy import Plpy
from .errors import INVALID_PARAMETER_VALUE, JobmonError

LOCK_TIMEOUT = "pg_jobmon.lock_timeout"
LOCK_TIMEOUT_DEFAULT_SECONDS = 10.0

# PostgreSQL's units for time parameters, in seconds.
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")


def parse_duration(name: str, text: str) -> float:
    """Seconds in a time setting such as ``500ms``, ``10s``, ``1min`` or ``2000``."""
    match = _DURATION.fullmatch(text)
    unit = match.group(2) if match else ""
    if match is None or (unit and unit not in _TIME_UNITS):
        raise JobmonError(
            f'invalid value for parameter "{name}": "{text}"',
            sqlstate=INVALID_PARAMETER_VALUE,
            hint='Valid units for this parameter are "us", "ms", "s", "min", "h", and "d".',
        )
    return float(match.group(1)) * _TIME_UNITS[unit or "ms"]


def lock_timeout(plpy: Plpy) -> float:
    """How long a log write may wait for another session's lock; 0 means no limit."""
    query = "SELECT pg_catalog.current_setting($1, true) AS value"
    value = plpy.execute(caller.plan(plpy, query, ("text",)), [LOCK_TIMEOUT])[0]["value"]
    if value is None or not value.strip():
        return LOCK_TIMEOUT_DEFAULT_SECONDS
    return parse_duration(LOCK_TIMEOUT, value)
