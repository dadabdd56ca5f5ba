"""The role the caller acts as now, read from the backend itself where it can be.

current_user changes with SET ROLE and SECURITY DEFINER, so every log write asks again.
Asked through SPI, the answer costs a subtransaction: about 5 us, a twentieth of a log
call. The backend's own GetUserId() gives the role's OID in well under a microsecond
(backend.py: it only reads a variable, and cannot raise), and the role's name is
looked up through SPI once per transaction and role, so that a renamed role is seen by
the next transaction. Where the backend's functions cannot be found,
SPI answers every time.
"""

from __future__ import annotations

from typing import Callable

from . import backend
from ._plpy import Plpy

_NAME_OF = "SELECT pg_catalog.pg_get_userbyid($1)::pg_catalog.text AS value"
_CURRENT_USER = "SELECT CURRENT_USER::pg_catalog.text AS value"

_names: dict[int, str] = {}
_names_of_transaction = 0


def current_user(plpy: Plpy, plan: Callable[..., object]) -> str:
    """CURRENT_USER of the caller; ``plan`` prepares a query once (caller.plan)."""
    global _names_of_transaction
    state = backend.state
    if state is None:
        return str(plpy.execute(plan(plpy, _CURRENT_USER))[0]["value"])
    transaction = state.transaction_start()
    if transaction != _names_of_transaction:
        _names.clear()
        _names_of_transaction = transaction
    user_id = state.user_id()
    name = _names.get(user_id)
    if name is None:
        rows = plpy.execute(plan(plpy, _NAME_OF, ("pg_catalog.oid",)), [user_id])
        name = _names[user_id] = str(rows[0]["value"])
    return name
