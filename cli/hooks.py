"""Where watch's events go: a hook command run for each, or JSON lines on stdout.

A hook is run by /bin/sh -c, so that a pipeline or a mail command with its quoted
subject is one option value, with the event's JSON (one object, newline-terminated) on
its stdin. Hooks run one at a time, in the order the events came: a hook that fails or
outlives its timeout is reported on stderr and watch goes on with the next event.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

from cli import messages

SHELL = "/bin/sh"


def encode(event: dict[str, Any]) -> str:
    """One event as one line of JSON; job names stay readable, not \\u-escaped."""
    return json.dumps(event, ensure_ascii=False) + "\n"


class Hook:
    """Delivers events to ``command``, or prints them when there is none."""

    def __init__(self, command: str | None, timeout: float) -> None:
        self.command = command
        self.timeout = timeout

    def deliver(self, event: dict[str, Any]) -> None:
        line = encode(event)
        if self.command is None:
            sys.stdout.write(line)
            sys.stdout.flush()
            return
        self._run(line, _describe(event))

    def _run(self, line: str, what: str) -> None:
        # A session of its own: on a timeout the whole hook goes, the programs its shell
        # started included, and a terminal's Ctrl-C reaches watch alone, which then ends
        # between hooks.
        try:
            process = subprocess.Popen(
                [SHELL, "-c", self.command or ""],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as failed:
            messages.warning(f"could not run hook for {what}: {failed.strerror}")
            return
        try:
            # communicate() ignores a hook that exits without reading its stdin.
            process.communicate(line.encode("utf-8"), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            messages.warning(
                f"hook for {what} did not finish within {self.timeout:g} s and was killed"
            )
            return
        if process.returncode < 0:
            name = signal.Signals(-process.returncode).name
            messages.warning(f"hook for {what} was terminated by signal {name}")
        elif process.returncode > 0:
            messages.warning(f"hook for {what} failed with exit status {process.returncode}")


def _describe(event: dict[str, Any]) -> str:
    """How a warning names an event: `raised event of job "nightly"`."""
    kind = event.get("event")
    status = event.get("alert_status")
    if status is not None:
        kind = f"{status} {kind}"
    return f'{kind} event of job "{event.get("job_name")}"'
