"""watch's connection: LISTEN on pg_jobmon_alert, and a wait for notifications that ends.

psycopg 3.1 (Debian's, which the installed command runs with) has no timeout on
Connection.notifies(), so the wait is done here on the socket itself, beside a wake-up
descriptor that a signal writes to, and the notifications are then read off libpq
without blocking. Notifications that come in while a query runs are caught by psycopg
and handed to the same queue.
"""

from __future__ import annotations

import collections
import selectors

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


class Listener:
    """One connection that listens; replaced as a whole when it is lost."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pending: collections.deque[str] = collections.deque()
        conn.add_notify_handler(self._heard)

    @classmethod
    def open(cls, conninfo: str) -> Listener:
        """A connection that already LISTENs: whatever commits from now on is heard."""
        conn = psycopg.connect(conninfo, autocommit=True)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    def wait(self, timeout: float, wakeup_fd: int | None = None) -> None:
        """Wait up to ``timeout`` seconds for a notification (or for ``wakeup_fd`` to be
        readable), then queue what has come. Raises psycopg.OperationalError when the
        connection is lost."""
        if self.pending:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(self.conn.fileno(), selectors.EVENT_READ)
            if wakeup_fd is not None:
                selector.register(wakeup_fd, selectors.EVENT_READ)
            ready = selector.select(max(timeout, 0))
        if any(key.fd == self.conn.fileno() for key, _ in ready):
            self._read()

    def close(self) -> None:
        self.conn.close()

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
                self.pending.append(notify.extra.decode("utf-8", errors="replace"))

    def _heard(self, notify: psycopg.Notify) -> None:
        if notify.channel == CHANNEL:
            self.pending.append(notify.payload)
