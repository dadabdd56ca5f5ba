"""`pg_jobmon watch` run as a subprocess, its output read line by line with timeouts."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from command import command_path


class Watch:
    """A running `pg_jobmon watch`: its stdout and stderr lines, as they come."""

    def __init__(self, arguments: list[str], environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(command_path()), "watch", *arguments],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr_lines: list[str] = []
        self._stderr_changed = threading.Condition()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def event(self, timeout: float = 10) -> dict[str, Any]:
        """The next event printed on stdout."""
        try:
            line = self.stdout.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout} s; stderr:\n{self.stderr}")
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    def no_event(self, within: float) -> None:
        """Nothing printed on stdout for ``within`` seconds."""
        with contextlib.suppress(queue.Empty):
            line = self.stdout.get(timeout=within)
            pytest.fail(f"unexpected event: {line}")

    def wait_stderr(self, text: str, count: int = 1, timeout: float = 20) -> None:
        """Until ``text`` is in ``count`` lines of stderr."""
        deadline = time.monotonic() + timeout
        with self._stderr_changed:
            while sum(text in line for line in self.stderr_lines) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{text!r} not on stderr within {timeout} s:\n{self.stderr}")
                self._stderr_changed.wait(left)

    @property
    def stderr(self) -> str:
        with self._stderr_changed:
            return "".join(self.stderr_lines)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send ``signum``; the exit status."""
        self.process.send_signal(signum)
        status = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self.stdout.put(line)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            with self._stderr_changed:
                self.stderr_lines.append(line)
                self._stderr_changed.notify_all()


@contextlib.contextmanager
def watching(arguments: list[str], environment: dict[str, str]) -> Iterator[Watch]:
    """`pg_jobmon watch arguments...`, started and ready (its first check done); killed
    on the way out whatever happens."""
    watch = Watch(arguments, environment)
    try:
        watch.wait_stderr("listening on pg_jobmon_alert")
        yield watch
    finally:
        watch.kill()


def hook_lines(path: Path) -> list[dict[str, Any]]:
    """The events a hook appended to ``path``, one JSON object a line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
