"""watch's connection: LISTEN on pg_jobmon_alert, and a wait for notifications that ends.

psycopg 3.1 (Debian's, which the installed command runs with) has no timeout on
Connection.notifies(), so the wait is done here on the socket itself, beside a wake-up
descriptor that a signal writes to, and the notifications are then read off libpq
without blocking. Notifications that come in while a query runs are caught by psycopg
and handed to the same queue.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import socket
import threading
from collections.abc import Iterator

import psycopg
from psycopg import pq

CHANNEL = "pg_jobmon_alert"
APPLICATION_NAME = "pg_jobmon watch"
# A dead network must not leave watch waiting on a connection that can never speak again:
# keepalives find a silent peer within about a minute, and tcp_user_timeout ends a query
# whose packets go unacknowledged. Unix sockets ignore both.
LIVENESS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60000,
}
# Payloads kept between two wake-ups: past this many, any session flooding the channel
# would only grow watch's memory; the rest are counted as "read everything again".
MAX_PENDING = 10000


class Listener:
    """One connection that listens; replaced as a whole when it is lost."""

    def __init__(self, conn: psycopg.Connection, answer_within: float) -> None:
        self.conn = conn
        self.answer_within = answer_within
        self.cut = False  # whether deadline() cut the connection
        self.pending: collections.deque[str] = collections.deque()
        self.overflowed = False  # whether payloads were dropped since the last take()
        conn.add_notify_handler(self._heard)

    @classmethod
    def open(cls, conninfo: str, answer_within: float) -> Listener:
        """A connection that already LISTENs: whatever commits from now on is heard."""
        listener = cls(psycopg.connect(conninfo, autocommit=True), answer_within)
        try:
            with listener.deadline():
                listener.conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            listener.close()
            raise
        return listener

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        """The server must answer the queries of the block within ``answer_within``
        seconds, else the connection is cut, and the query fails as on a lost one.

        A stalled server, or a path that stalls while the kernels at both ends still
        acknowledge, looks alive to TCP itself: psycopg 3.1 would wait for ever."""
        timer = threading.Timer(self.answer_within, self._cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def wait(self, timeout: float, wakeup_fd: int | None = None) -> None:
        """Wait up to ``timeout`` seconds for a notification (or for ``wakeup_fd`` to be
        readable), then queue what has come. Raises psycopg.OperationalError when the
        connection is lost."""
        if self.pending or self.overflowed:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(self.conn.fileno(), selectors.EVENT_READ)
            if wakeup_fd is not None:
                selector.register(wakeup_fd, selectors.EVENT_READ)
            ready = selector.select(max(timeout, 0))
        if any(key.fd == self.conn.fileno() for key, _ in ready):
            self._read()

    def take(self) -> tuple[list[str], bool]:
        """The payloads heard since the last take, and whether some were dropped."""
        payloads, overflowed = list(self.pending), self.overflowed
        self.pending.clear()
        self.overflowed = False
        return payloads, overflowed

    def close(self) -> None:
        self.conn.close()

    def _cut(self) -> None:
        # Shutting the socket down (through a duplicate of its descriptor, which stays
        # libpq's to close) wakes psycopg's wait with an end of stream.
        self.cut = True
        with (
            contextlib.suppress(OSError, psycopg.Error),
            socket.socket(fileno=os.dup(self.conn.fileno())) as sock,
        ):
            sock.shutdown(socket.SHUT_RDWR)

    def _read(self) -> None:
        pgconn = self.conn.pgconn
        try:
            pgconn.consume_input()
        except psycopg.Error as failed:
            raise psycopg.OperationalError(
                str(failed).removeprefix("consuming input failed: ")
            ) from None
        if pgconn.status != pq.ConnStatus.OK:
            raise psycopg.OperationalError(pgconn.error_message.decode(errors="replace"))
        while True:
            notify = pgconn.notifies()
            if notify is None:
                break
            if notify.relname.decode() == CHANNEL:
                self._queue(notify.extra.decode("utf-8", errors="replace"))

    def _heard(self, notify: psycopg.Notify) -> None:
        if notify.channel == CHANNEL:
            self._queue(notify.payload)

    def _queue(self, payload: str) -> None:
        if len(self.pending) < MAX_PENDING:
            self.pending.append(payload)
        else:
            self.overflowed = True
