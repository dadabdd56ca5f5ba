"""A TCP forwarding proxy for tests: a network that can stall, or a server that is stuck.

It listens on 127.0.0.1 on a free port and forwards each connection to a target. The
test can freeze it (nothing passes in either direction, not even a close, while every
socket stays open: the kernel keeps acknowledging, as with a frozen server or a
half-open connection), thaw it, and make it black-hole new connections (accepted, then
never forwarded nor answered, as by a server that accepts but never gets to them).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Callable

_CHUNK = 65536


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``host``:``target_port``, until closed."""

    def __init__(self, host: str, target_port: int) -> None:
        self._target = (host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._black_hole = False
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self._listener]
        self._threads: list[threading.Thread] = []
        self._held = 0
        self.black_holed = 0  # connections black-holed so far
        self._start(self._accept)

    def freeze(self) -> None:
        """Stop forwarding, in both directions, on every connection, old and new."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, first what came in while frozen."""
        self._flowing.set()

    def black_hole(self, on: bool = True) -> None:
        """Accept new connections but never forward nor answer them (connections
        already forwarded go on)."""
        self._black_hole = on

    def held(self) -> int:
        """How many black-holed connections their client still keeps open."""
        with self._lock:
            return self._held

    def close(self) -> None:
        """Close every socket; the threads end with them."""
        self._closed = True
        self._flowing.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self, target: Callable[..., None], *args: socket.socket) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> bool:
        """Track ``sock`` to close it with the proxy; False if the proxy is closed."""
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sockets.append(sock)
            return True

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            if not self._keep(client):
                return
            if self._black_hole:
                self._start(self._swallow, client)
                continue
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            if not self._keep(server):
                return
            self._start(self._pump, client, server)
            self._start(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                data = b""
            # While frozen, nothing passes: neither data nor the end of the connection.
            self._flowing.wait()
            if not data or self._closed:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        _shut(source)
        _shut(sink)

    def _swallow(self, client: socket.socket) -> None:
        with self._lock:
            self._held += 1
            self.black_holed += 1
        with contextlib.suppress(OSError):
            while client.recv(_CHUNK):
                pass
        with self._lock:
            self._held -= 1


def _shut(sock: socket.socket) -> None:
    """Shut ``sock`` down both ways, which wakes a thread blocked in its recv()."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
