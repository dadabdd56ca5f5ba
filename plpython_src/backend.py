"""The running backend's own C functions and variables, reached through ctypes.

Only those that cannot raise an ERROR are called: an ERROR would unwind through
Python's frames and leave the interpreter in an unknown state. Outside a PostgreSQL
backend (or where a symbol is missing) ``state`` is None and callers use SPI instead.
"""

from __future__ import annotations

import ctypes
from typing import Callable, cast

# pg_on_exit_callback: void (*)(int code, Datum arg).
ExitCallback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_size_t)

# SessionEndType's DISCONNECT_KILLED: the value of pgStatSessionEndCause once the backend
# got SIGTERM (pg_terminate_backend(), a fast shutdown).
_DISCONNECT_KILLED = 4


class BackendState:
    """GetUserId(), GetCurrentTransactionStartTimestamp(), GetConfigOption(),
    before_shmem_exit(), AbortOutOfAnyTransaction() and pgStatSessionEndCause of the
    running backend."""

    def __init__(self) -> None:
        program = ctypes.CDLL(None)
        self.user_id = _function(program, "GetUserId", ctypes.c_uint32)
        self.transaction_start = _function(
            program, "GetCurrentTransactionStartTimestamp", ctypes.c_int64
        )
        # GetConfigOption(name, missing_ok, restrict_privileged): NULL when not set.
        self._config_option = program.GetConfigOption
        self._config_option.restype = ctypes.c_char_p
        self._config_option.argtypes = [ctypes.c_char_p, ctypes.c_bool, ctypes.c_bool]
        self._before_shmem_exit = program.before_shmem_exit
        self._before_shmem_exit.restype = None
        self._before_shmem_exit.argtypes = [ExitCallback, ctypes.c_size_t]
        self._abort_transaction = program.AbortOutOfAnyTransaction
        self._abort_transaction.restype = None
        self._abort_transaction.argtypes = []
        # die() sets it even once the backend is exiting, when it sets nothing else.
        self._end_cause = ctypes.c_int.in_dll(program, "pgStatSessionEndCause")

    def config_option(self, name: bytes) -> bytes | None:
        """The session's value of a setting; None when it is not set at all."""
        return cast("bytes | None", self._config_option(name, True, False))

    def before_exit(self, callback: object) -> None:
        """Have the backend call ``callback(code, 0)`` as it exits, before it lets go of
        its transaction and its locks (callbacks run last registered, first called).

        ``callback`` must be kept alive by the caller, and must never raise.
        """
        self._before_shmem_exit(callback, 0)

    def abort_transaction(self) -> None:
        """As the backend exits: end its transaction now, and let go of its locks.

        Only for a callback of before_exit(). PostgreSQL's own exit callbacks do the same
        (ShutdownPostgres(), RemoveTempRelationsCallback()); an ERROR there becomes FATAL
        (proc_exit has begun), which exits without unwinding through Python's frames.
        """
        self._abort_transaction()

    def terminated(self) -> bool:
        """Whether the backend got SIGTERM (pg_terminate_backend(), a fast shutdown)."""
        return self._end_cause.value == _DISCONNECT_KILLED


def _function(program: ctypes.CDLL, name: str, result: type) -> Callable[[], int]:
    """A C function of ``program`` that takes no argument and returns an integer."""
    function = getattr(program, name)
    function.restype = result
    function.argtypes = []
    return cast(Callable[[], int], function)


def _backend_state() -> BackendState | None:
    try:
        return BackendState()
    except (OSError, AttributeError, ValueError):  # not inside a PostgreSQL backend
        return None


state = _backend_state()
