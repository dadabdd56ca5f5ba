"""Non-blocking libpq exchanges that leave the calling backend interruptible.

While a PL/Python function blocks inside libpq, its backend is deaf: statement_timeout,
pg_cancel_backend() and pg_terminate_backend() take no effect until libpq returns, and if
the other side waits on a lock that the caller holds, both wait forever. So every wait
here polls the socket for at most POLL_SECONDS and, between polls, calls
``while_waiting``: it makes an SPI call on the caller's session, during which PostgreSQL
acts on pending interrupts (and raises, for a cancel or a timeout), and it may raise to
end a wait that cannot end well.

Every log call goes through ``exchange``, so it is kept lean: the poll objects of a
connection's socket are made once (``Socket``), and psycopg is imported with the module,
which only log calls load.
"""

from __future__ import annotations

import select
import time
from typing import Callable

from psycopg import errors as pg_errors
from psycopg import pq

POLL_SECONDS = 0.1
_MAX_PENDING_READS = 16
_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
# The other end closed its side: an EOF follows whatever is left to read.
_CLOSED = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
_WRITE = select.POLLOUT | select.POLLERR | select.POLLHUP

WhileWaiting = Callable[[], object]


class ConnectionLost(Exception):
    """The logging connection broke; ``sent`` tells whether the statement had left, and
    ``unanswered`` how many writes sent without waiting were still unanswered."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
        self.unanswered = 0


class ConnectFailed(Exception):
    """libpq could not open the connection; the message is libpq's."""


class Socket:
    """The socket of an open connection, with its poll objects, made once."""

    def __init__(self, fileno: int) -> None:
        self.readable = _poller(fileno, _READ)
        self.readable_or_closed = _poller(fileno, _READ | _CLOSED)
        self.writable_or_readable = _poller(fileno, _READ | _WRITE)


def _poller(fileno: int, events: int) -> select.poll:
    poller = select.poll()
    poller.register(fileno, events)
    return poller


def wait(
    poller: select.poll,
    while_waiting: WhileWaiting,
    deadline: float | None = None,
) -> int:
    """Wait until the socket of ``poller`` is ready; return the events that came."""
    while True:
        ready = poller.poll(POLL_SECONDS * 1000)
        if ready:
            return ready[0][1]
        while_waiting()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError


def read_pending(pgconn: pq.abc.PGconn, socket: Socket) -> bool:
    """Read what the server sent while the connection was idle, without waiting;
    whether anything came.

    Notifications are queued for ``pgconn.notifies()``; an EOF (the backend was
    terminated, the server restarted) raises psycopg's OperationalError. One read is
    not enough for that: a terminated backend first sends its FATAL message.
    """
    ready = socket.readable_or_closed.poll(0)
    if not ready:
        return False
    pgconn.consume_input()
    if ready[0][1] & _CLOSED:
        # Read up to the EOF, so that it raises now rather than on the next write.
        for _ in range(_MAX_PENDING_READS):
            pgconn.consume_input()
    return True


def connect(conninfo: str, while_waiting: WhileWaiting, timeout: float) -> pq.abc.PGconn:
    """Open a connection in non-blocking mode, within ``timeout`` seconds."""
    pgconn = pq.PGconn.connect_start(conninfo.encode())
    deadline = time.monotonic() + timeout
    # libpq's rule: before the first PQconnectPoll, wait as if it had asked to write.
    state = pq.PollingStatus.WRITING
    try:
        while state != pq.PollingStatus.OK:
            if pgconn.status == pq.ConnStatus.BAD or state == pq.PollingStatus.FAILED:
                raise ConnectFailed(_libpq_message(pgconn.error_message))
            # libpq may move to another socket (another host, SSL refused): poll anew.
            events = _WRITE if state == pq.PollingStatus.WRITING else _READ
            try:
                wait(_poller(pgconn.socket, events), while_waiting, deadline)
            except TimeoutError:
                raise ConnectFailed(f"timeout expired after {timeout:g} seconds") from None
            state = pq.PollingStatus(pgconn.connect_poll())
        pgconn.nonblocking = 1
    except BaseException:
        pgconn.finish()
        raise
    return pgconn


def exchange(
    pgconn: pq.abc.PGconn,
    socket: Socket,
    send: Callable[[], None],
    while_waiting: WhileWaiting,
) -> list[pq.abc.PGresult]:
    """Send what ``send`` queues on ``pgconn`` and collect every result it brings.

    A broken connection raises ConnectionLost; anything else that interrupts the
    exchange (a cancel, a timeout of the caller, ``while_waiting``) goes on as it is,
    and the statement may still run on the other side: the caller deals with it.
    """
    try:
        send()
    except pg_errors.OperationalError as error:
        raise ConnectionLost(str(error), sent=False) from None
    with _lost_once_sent:
        _flush(pgconn, socket, while_waiting)
        results = _collect(pgconn, socket, while_waiting)
    return results


def flush(
    pgconn: pq.abc.PGconn,
    socket: Socket,
    while_waiting: WhileWaiting,
    on_input: Callable[[], None],
) -> None:
    """Send what is queued on ``pgconn``, waiting for the socket to take it, and reading
    what the server sends meanwhile (``on_input`` takes it). Errors as for ``exchange``.
    """
    with _lost_once_sent:
        _flush(pgconn, socket, while_waiting, on_input)


def wait_until(
    pgconn: pq.abc.PGconn,
    socket: Socket,
    done: Callable[[], bool],
    while_waiting: WhileWaiting,
    deadline: float | None = None,
) -> None:
    """Read what the server sends until ``done()``, which takes in what was read.

    Past ``deadline`` (time.monotonic()), TimeoutError. Errors as for ``exchange``.
    """
    with _lost_once_sent:
        _flush(pgconn, socket, while_waiting)
        while not done():
            wait(socket.readable, while_waiting, deadline)
            pgconn.consume_input()


class _LostOnceSent:
    """A broken connection, once something was sent on it: ConnectionLost(sent=True).

    A class rather than contextlib.contextmanager: every log call goes through it, and
    a generator per use costs a microsecond.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if isinstance(error, pg_errors.OperationalError):
            raise ConnectionLost(str(error), sent=True) from None


_lost_once_sent = _LostOnceSent()


def _flush(
    pgconn: pq.abc.PGconn,
    socket: Socket,
    while_waiting: WhileWaiting,
    on_input: Callable[[], None] | None = None,
) -> None:
    # Reading while writing: the server may answer before it has read all we send, and
    # stops reading while its own answers are not read.
    while pgconn.flush():
        events = wait(socket.writable_or_readable, while_waiting)
        if events & _READ:
            pgconn.consume_input()
            if on_input is not None:
                on_input()


def _collect(
    pgconn: pq.abc.PGconn, socket: Socket, while_waiting: WhileWaiting
) -> list[pq.abc.PGresult]:
    results: list[pq.abc.PGresult] = []
    while True:
        while pgconn.is_busy():
            wait(socket.readable, while_waiting)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


def _libpq_message(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip() or "unknown error"
