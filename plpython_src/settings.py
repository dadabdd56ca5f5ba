"""pg_jobmon's own settings: custom parameters read from the caller's session.

They are ordinary placeholder parameters (``SET pg_jobmon.lock_timeout = '2s'``, or in
postgresql.conf, ALTER DATABASE / ROLE ... SET), read only when a call needs them.
Their values follow the PostgreSQL parameters they are named after: a time with an
optional unit (milliseconds when it has none), or synchronous_commit's own values.
"""

from __future__ import annotations

import re

from . import backend, caller
from ._plpy import Plpy
from .errors import INVALID_PARAMETER_VALUE, JobmonError

LOCK_TIMEOUT = "pg_jobmon.lock_timeout"
LOCK_TIMEOUT_DEFAULT_SECONDS = 10.0
SYNCHRONOUS_COMMIT = "pg_jobmon.synchronous_commit"
IDLE_TIMEOUT = "pg_jobmon.idle_timeout"
IDLE_TIMEOUT_DEFAULT = "10min"
WAIT_FOR_WRITES = "pg_jobmon.wait_for_writes"
# idle_session_timeout's range, in milliseconds, but from a second: a shorter timeout
# would reopen the connection at nearly every call.
_IDLE_TIMEOUT_MS = range(1000, 2**31)

# synchronous_commit's values as PostgreSQL spells and accepts them.
_SYNCHRONOUS_COMMIT_VALUES = {
    "local": "local",
    "remote_write": "remote_write",
    "remote_apply": "remote_apply",
    **dict.fromkeys(("on", "true", "yes", "1"), "on"),
    **dict.fromkeys(("off", "false", "no", "0"), "off"),
}

# A boolean parameter's values as PostgreSQL accepts them in full.
_BOOLEAN_VALUES = {
    **dict.fromkeys(("on", "true", "yes", "1"), True),
    **dict.fromkeys(("off", "false", "no", "0"), False),
}

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


def parse_synchronous_commit(text: str) -> str:
    """synchronous_commit's value for ``text``: on, off, local, remote_write, remote_apply."""
    value = _SYNCHRONOUS_COMMIT_VALUES.get(text.strip().lower())
    if value is None:
        raise JobmonError(
            f'invalid value for parameter "{SYNCHRONOUS_COMMIT}": "{text}"',
            sqlstate=INVALID_PARAMETER_VALUE,
            hint="Available values: local, remote_write, remote_apply, on, off.",
        )
    return value


def parse_idle_timeout(text: str) -> int:
    """Milliseconds in an idle timeout: 0 (never), or from 1s to idle_session_timeout's limit."""
    seconds = parse_duration(IDLE_TIMEOUT, text)
    milliseconds = round(seconds * 1000)
    if seconds and milliseconds not in _IDLE_TIMEOUT_MS:
        raise JobmonError(
            f'invalid value for parameter "{IDLE_TIMEOUT}": "{text}"',
            sqlstate=INVALID_PARAMETER_VALUE,
            detail="The value must be 0 (no timeout) or between 1s and 2147483647ms.",
        )
    return milliseconds


def parse_boolean(name: str, text: str) -> bool:
    """A boolean setting's value: on, off, true, false, yes, no, 1 or 0."""
    value = _BOOLEAN_VALUES.get(text.strip().lower())
    if value is None:
        raise JobmonError(
            f'parameter "{name}" requires a Boolean value',
            sqlstate=INVALID_PARAMETER_VALUE,
            detail=f'"{text}" is not one of on, off, true, false, yes, no, 1, 0.',
        )
    return value


def lock_timeout(plpy: Plpy) -> float:
    """How long a log write may wait for another session's lock; 0 means no limit."""
    value = _setting(plpy, LOCK_TIMEOUT)
    if value is None:
        return LOCK_TIMEOUT_DEFAULT_SECONDS
    return parse_duration(LOCK_TIMEOUT, value)


def synchronous_commit(plpy: Plpy) -> str | None:
    """How the logging connection commits; None leaves it to the server's configuration."""
    value = _setting(plpy, SYNCHRONOUS_COMMIT)
    return None if value is None else parse_synchronous_commit(value)


def idle_timeout(plpy: Plpy) -> int:
    """Milliseconds after which an idle logging connection is closed; 0 means never."""
    return parse_idle_timeout(_setting(plpy, IDLE_TIMEOUT) or IDLE_TIMEOUT_DEFAULT)


_WAIT_FOR_WRITES = WAIT_FOR_WRITES.encode()
_waits: dict[bytes | None, bool] = {None: True, b"": True}


def waits_for_writes(plpy: Plpy) -> bool:
    """Whether a log call waits for its write to be answered (the default), or returns
    once the write is sent. Read at every call, through the backend's own
    GetConfigOption() where it can be: a microsecond, where SPI takes several."""
    if backend.state is None:
        value = _setting(plpy, WAIT_FOR_WRITES)
        return True if value is None else parse_boolean(WAIT_FOR_WRITES, value)
    raw = backend.state.config_option(_WAIT_FOR_WRITES)
    waits = _waits.get(raw)
    if waits is None:
        text = raw.decode("utf-8", "replace") if raw is not None else ""
        waits = True if not text.strip() else parse_boolean(WAIT_FOR_WRITES, text)
        if len(_waits) < 16:  # only ever a handful of spellings
            _waits[raw] = waits
    return waits


def _setting(plpy: Plpy, name: str) -> str | None:
    """The session's value of ``name``; None when it is not set or empty."""
    query = "SELECT pg_catalog.current_setting($1, true) AS value"
    value = plpy.execute(caller.plan(plpy, query, ("pg_catalog.text",)), [name])[0]["value"]
    return value if value is not None and value.strip() else None
