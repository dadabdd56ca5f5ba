"""Host names looked up while the caller stays interruptible.

libpq looks a host name up inside the connect, where the calling backend can act on no
interrupt: a slow resolver would hold up a cancel or statement_timeout for as long as
it takes. So names are looked up here first, in a helper thread that the caller polls
like any other wait, and libpq gets the addresses as ``hostaddr``; it still uses
``host`` to verify the server's certificate and to find a password in .pgpass.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping

from ._wire import POLL_SECONDS, WhileWaiting

Resolver = Callable[[str, str], list[str]]


class LookupFailed(Exception):
    """No address for any host, or none in time; the message says why."""


class _NoAddress(Exception):
    """One host name has no address."""


def resolve(name: str, port: str) -> list[str]:
    """The addresses of ``name``, in the order libpq would try them, each once."""
    infos = socket.getaddrinfo(name, port or None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def with_addresses(
    keywords: Mapping[str, str],
    while_waiting: WhileWaiting,
    timeout: float,
    resolver: Resolver = resolve,
) -> dict[str, str]:
    """``keywords`` with every host name looked up, as one host entry per address.

    Entries that need no lookup (socket directories, IP addresses) get an empty
    ``hostaddr``, which libpq reads as "use host". A row that sets ``hostaddr`` itself
    is left alone.
    """
    hosts = keywords.get("host", "").split(",")
    if "hostaddr" in keywords or not any(_is_name(host) for host in hosts):
        return dict(keywords)
    ports = keywords.get("port", "").split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    deadline = time.monotonic() + timeout
    entries: list[tuple[str, str, str]] = []
    failures: list[str] = []
    for host, port in zip(hosts, ports):
        if not _is_name(host):
            entries.append((host, "", port))
            continue
        try:
            addresses = _looked_up(host, port, resolver, while_waiting, deadline)
        except _NoAddress as failure:
            failures.append(str(failure))  # libpq too goes on to the next host
            continue
        entries += [(host, address, port) for address in addresses]
    if not entries:
        raise LookupFailed("; ".join(failures))
    return {
        **keywords,
        "host": ",".join(host for host, _, _ in entries),
        "hostaddr": ",".join(address for _, address, _ in entries),
        "port": ",".join(port for _, _, port in entries),
    }


def _is_name(host: str) -> bool:
    if not host or host.startswith(("/", "@")):  # a socket directory, or an abstract one
        return False
    return not any(_is_address(family, host) for family in (socket.AF_INET, socket.AF_INET6))


def _is_address(family: socket.AddressFamily, host: str) -> bool:
    try:
        socket.inet_pton(family, host)
    except OSError:
        return False
    return True


def _looked_up(
    host: str, port: str, resolver: Resolver, while_waiting: WhileWaiting, deadline: float
) -> list[str]:
    outcome: list[list[str] | BaseException] = []

    def look_up() -> None:
        # Signals are the backend's: this thread must never be the one to take them.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            outcome.append(resolver(host, port))
        except BaseException as error:  # handed over to the waiting caller
            outcome.append(error)

    # A daemon: a lookup given up on finishes on its own and is forgotten.
    worker = threading.Thread(target=look_up, name="pg_jobmon lookup", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        if not worker.is_alive():
            break
        while_waiting()
        if time.monotonic() > deadline:
            raise LookupFailed(f'could not translate host name "{host}" to address: timeout')
    result = outcome[0]
    if isinstance(result, BaseException) or not result:
        raise _NoAddress(f'could not translate host name "{host}" to address: {result}')
    return result
