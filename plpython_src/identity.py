"""The role the caller acts as now, read from the backend itself where it can be.

current_user changes with SET ROLE and SECURITY DEFINER, so every log write asks again.
Asked through SPI, the answer costs a subtransaction: about 5 us, a twentieth of a log
call. The backend's own GetUserId() gives the role's OID in well under a microsecond:
it is called through ctypes (it only reads a variable, and cannot raise), and the
role's name is looked up through SPI once per transaction and role, so that a renamed
role is seen by the next transaction. Where the backend's functions cannot be found,
SPI answers every time.
"""

from __future__ import annotations

import ctypes
from typing import Callable, cast

from ._plpy import Plpy

_NAME_OF = "SELECT pg_catalog.pg_get_userbyid($1)::pg_catalog.text AS value"
_CURRENT_USER = "SELECT CURRENT_USER::pg_catalog.text AS value"


class _BackendState:
    """GetUserId() and GetCurrentTransactionStartTimestamp() of the running backend."""

    def __init__(self) -> None:
        program = ctypes.CDLL(None)
        self.user_id = _function(program, "GetUserId", ctypes.c_uint32)
        self.transaction_start = _function(
            program, "GetCurrentTransactionStartTimestamp", ctypes.c_int64
        )


def _function(program: ctypes.CDLL, name: str, result: type) -> Callable[[], int]:
    """A C function of ``program`` that takes no argument and returns an integer."""
    function = getattr(program, name)
    function.restype = result
    function.argtypes = []
    return cast(Callable[[], int], function)


def _backend_state() -> _BackendState | None:
    try:
        return _BackendState()
    except (OSError, AttributeError):  # not inside a PostgreSQL backend
        return None


_backend = _backend_state()
_names: dict[int, str] = {}
_names_of_transaction = 0


def current_user(plpy: Plpy, plan: Callable[..., object]) -> str:
    """CURRENT_USER of the caller; ``plan`` prepares a query once (caller.plan)."""
    global _names_of_transaction
    if _backend is None:
        return str(plpy.execute(plan(plpy, _CURRENT_USER))[0]["value"])
    transaction = _backend.transaction_start()
    if transaction != _names_of_transaction:
        _names.clear()
        _names_of_transaction = transaction
    user_id = _backend.user_id()
    name = _names.get(user_id)
    if name is None:
        rows = plpy.execute(plan(plpy, _NAME_OF, ("pg_catalog.oid",)), [user_id])
        name = _names[user_id] = str(rows[0]["value"])
    return name
