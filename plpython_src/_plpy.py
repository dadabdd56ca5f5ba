"""The part of PL/Python's ``plpy`` module that pg_jobmon uses, as a type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Plan(Protocol):
    """A statement prepared with ``plpy.prepare``."""


class Plpy(Protocol):
    """PL/Python's ``plpy``: SPI on the caller's own session, and error reporting."""

    def execute(self, query: str | Plan, args: Sequence[Any] = ..., /) -> Any: ...

    def prepare(self, query: str, argtypes: Sequence[str] = ..., /) -> Plan: ...

    def quote_ident(self, name: str, /) -> str: ...

    def error(
        self,
        msg: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
        sqlstate: str | None = None,
    ) -> Any: ...

    def warning(
        self,
        msg: str,
        *,
        detail: str | None = None,
        hint: str | None = None,
    ) -> Any: ...
