"""The decorator that makes a Python function the body of a SQL function.

``extension/build.py`` reads the decorator's arguments from the source (it does not
import the package) and writes the thin plpython3u wrapper that calls the function.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

from ._plpy import Plpy
from .errors import JobmonError

Result = TypeVar("Result")


def sql_function(
    signature: str, *, security_definer: bool = False
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Declare the SQL ``signature`` of an entry point, e.g. ``f(p_x text) RETURNS int``.

    The entry point's first argument is ``plpy``; the others are the SQL arguments, by
    the same names. A JobmonError it raises reaches the caller as an ordinary ERROR.
    """

    def decorate(function: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(function)
        def entry_point(plpy: Plpy, *args: object) -> Result:
            try:
                return function(plpy, *args)
            except JobmonError as error:
                # plpy.error shows a None detail or hint as the text "None".
                extras = {"detail": error.detail, "hint": error.hint}
                plpy.error(
                    error.message,
                    sqlstate=error.sqlstate,
                    **{key: value for key, value in extras.items() if value is not None},
                )
                raise  # plpy.error raised already; this only tells mypy so

        entry_point.sql_signature = signature  # type: ignore[attr-defined]
        entry_point.security_definer = security_definer  # type: ignore[attr-defined]
        return entry_point

    return decorate
