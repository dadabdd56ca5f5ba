"""Whether a logging connection still follows the row of dblink_mapping_jobmon.

A row's version is its xmin ('none' without a row), as _dblink_mapping_version() reads
it. Where the logging backend runs in the caller's own database, a change is announced
on names.CONFIG_CHANNEL and the backend reads the version with a snapshot of its own:
since any role may NOTIFY, the connection is replaced only when the version differs.
Where it cannot be so (a logging server elsewhere, or a row read under a REPEATABLE READ
or SERIALIZABLE snapshot already older than the row), the caller's side reads the
version at every call instead, and the connection is replaced at the first call whose
transaction sees a new one.
"""

from __future__ import annotations

from typing import NamedTuple

from . import caller, statements
from ._plpy import Plpy
from .link import LoggingConnection


class Freshness(NamedTuple):
    """The row version a connection was opened with, and how a change becomes known."""

    version: str
    announced: bool

    def watched_by_caller(self) -> Freshness:
        """The same version, from now on compared on the caller's side at each call."""
        return Freshness(self.version, announced=False)

    def holds(self, plpy: Plpy, link: LoggingConnection) -> bool:
        """Whether ``link`` (open, its pending input read) may still be used."""
        if not self.announced:
            return version_seen_by_caller(plpy, link.schema) == self.version
        if not link.take_notified():
            return True
        return version_seen_by_logger(plpy, link) == self.version


def version_seen_by_caller(plpy: Plpy, schema: str) -> str:
    """The row's version as the caller's transaction sees it."""
    query = f"SELECT {schema}._dblink_mapping_version() AS value"
    return str(plpy.execute(caller.plan(plpy, query))[0]["value"])


def version_seen_by_logger(plpy: Plpy, link: LoggingConnection) -> str:
    """The row's version as committed now, read by a logging backend in this database."""
    result = link.run_script(statements.CONFIG_VERSION.format(schema=link.schema), plpy)
    value = result.get_value(0, 0)
    return "" if value is None else value.decode()
