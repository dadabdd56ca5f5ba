"""The benchmark's findings: the targets, the printed summary, RESULTS.md and the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.first_call import FirstCall
from bench.footprint import Sample, SessionMemory
from bench.retention import Retention
from bench.retention import summary as retention_summary
from bench.workloads import Throughput

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_RATIO_ONE_CLIENT = 1.3
MIN_RATIO_SIXTEEN_CLIENTS = 0.8
MAX_OWN_FIRST_CALL_SECONDS = 0.015
MAX_GROWTH_BYTES = 1024 * 1024
# Retention draining a backlog: close_job may take this much longer (median call).
MAX_RETENTION_ADDED_MS = 10.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class Pair:
    """The floor and pg_jobmon, measured side by side under one commit setting."""

    floor: Throughput
    jobmon: Throughput

    @property
    def latency_ratio(self) -> float:
        return self.jobmon.microseconds_per_call / self.floor.microseconds_per_call

    @property
    def throughput_ratio(self) -> float:
        return self.jobmon.calls_per_second / self.floor.calls_per_second


@dataclass(frozen=True)
class Findings:
    """Everything one run measured."""

    environment: dict[str, str]
    one_client: dict[str, Pair]  # by synchronous_commit: "on", "off"
    sixteen_clients: dict[str, Pair]
    first_call: FirstCall
    read_only_stays_light: bool
    memory: SessionMemory
    samples: list[Sample]
    retention: Retention


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool


def targets(findings: Findings) -> list[Target]:
    one = findings.one_client["on"]
    sixteen = findings.sixteen_clients["on"]
    first = findings.first_call
    steady = findings.samples[1:]
    caller_growth = steady[-1].caller - steady[0].caller
    logger_growth = steady[-1].logger - steady[0].logger
    loggers = sorted({sample.loggers for sample in findings.samples})
    return [
        Target(
            f"1 client: log call <= {MAX_RATIO_ONE_CLIENT}x the floor",
            f"{one.latency_ratio:.2f}x",
            one.latency_ratio <= MAX_RATIO_ONE_CLIENT,
        ),
        Target(
            f"16 clients: throughput >= {MIN_RATIO_SIXTEEN_CLIENTS}x the floor's",
            f"{sixteen.throughput_ratio:.2f}x",
            sixteen.throughput_ratio >= MIN_RATIO_SIXTEEN_CLIENTS,
        ),
        Target(
            "first call: pg_jobmon's own part <= 15 ms (beyond import psycopg and connect)",
            f"{first.own * 1000:.1f} ms",
            first.own <= MAX_OWN_FIRST_CALL_SECONDS,
        ),
        Target(
            "show_* and check_job_status(): no psycopg import, no logging connection",
            "none" if findings.read_only_stays_light else "imported or connected",
            findings.read_only_stays_light,
        ),
        Target(
            f"{findings.samples[-1].calls:,} calls in one session: no growth",
            f"caller {caller_growth / 1024:+.0f} KiB, logging backend"
            f" {logger_growth / 1024:+.0f} KiB, logging connections {loggers}",
            caller_growth < MAX_GROWTH_BYTES
            and logger_growth < MAX_GROWTH_BYTES
            and loggers == [1],
        ),
        Target(
            f"retention over a backlog: close_job <= {MAX_RETENTION_ADDED_MS:g} ms longer"
            " (median call)",
            f"{findings.retention.added_median:+.2f} ms",
            findings.retention.added_median <= MAX_RETENTION_ADDED_MS,
        ),
    ]


def break_even_calls(findings: Findings) -> int | None:
    """Log calls in a session from which it has spent less than with 1.5.0.

    Both first calls are cold (a fresh session), the rest at each one's steady cost,
    all measured in the same run; None if 2.0.0's steady call were not the cheaper.
    """
    pair = findings.one_client["on"].jobmon
    steady = pair.seconds / pair.calls
    first, old = findings.first_call, findings.first_call.old
    if old.per_call <= steady:
        return None
    extra_first = first.cold_total - old.first_call
    return 1 + max(0, math.ceil(extra_first / (old.per_call - steady)))


def first_call_lines(first: FirstCall, break_even: int | None) -> list[str]:
    """The first call's table and the break-even against 1.5.0."""
    return [
        "",
        f"First log call of a session (median of {first.sessions} fresh sessions of each kind):",
        "",
        "| part | ms |",
        "|---|---:|",
        f"| starting PL/Python | {first.plpython_start * 1000:.1f} |",
        f"| importing psycopg | {first.psycopg_import * 1000:.1f} |",
        f"| opening a libpq connection | {first.connect * 1000:.1f} |",
        f"| a plpython3u function doing both, PL/Python started | "
        f"{first.import_and_connect * 1000:.1f} |",
        f"| the first add_job, PL/Python started | {first.first_add_job * 1000:.1f} |",
        f"| pg_jobmon's own work (the difference of the two) | {first.own * 1000:.1f} |",
        f"| the whole first call, timed on its own | {first.cold_total * 1000:.1f} |",
        "",
        "pg_jobmon's own work is what a first add_job costs beyond importing psycopg and"
        " opening one connection: the median first add_job of fresh sessions whose"
        " PL/Python was started first (a DO block), less the median of a plpython3u"
        " function that imports psycopg and opens a libpq connection, in other fresh"
        " sessions alike. It holds loading pg_jobmon's modules (their code comes from the"
        " code cache that make install writes), the modules they import beyond psycopg's,"
        " the caller-side queries, and the logging connection's setup beyond the bare"
        " connect.",
        "",
        f"1.5.0 in the same run (a dblink connection per log call): first call"
        f" {first.old.first_call * 1000:.1f} ms, then {first.old.per_call * 1000:.2f} ms"
        " per log call. Break-even: "
        + (
            f"from {break_even} log calls in a session on, 2.0.0 has cost no more."
            if break_even is not None
            else "none (2.0.0's steady call was not the cheaper)."
        ),
    ]


def summary(findings: Findings) -> str:
    """The tables of RESULTS.md (also printed)."""
    lines = ["| | floor (pgbench) | pg_jobmon | ratio |", "|---|---:|---:|---:|"]
    for setting, pair in findings.one_client.items():
        lines.append(
            f"| 1 client, µs per log call, synchronous_commit {setting}"
            f" | {pair.floor.microseconds_per_call:.0f} | {pair.jobmon.microseconds_per_call:.0f}"
            f" | {pair.latency_ratio:.2f}x |"
        )
    for setting, pair in findings.sixteen_clients.items():
        lines.append(
            f"| 16 clients, log calls per second, synchronous_commit {setting}"
            f" | {pair.floor.calls_per_second:,.0f} | {pair.jobmon.calls_per_second:,.0f}"
            f" | {pair.throughput_ratio:.2f}x |"
        )
    memory = findings.memory
    lines += first_call_lines(findings.first_call, break_even_calls(findings))
    lines += [
        "",
        "Memory a logging session adds (anonymous memory, from /proc/<pid>/smaps_rollup):",
        "",
        "| | MiB |",
        "|---|---:|",
        f"| caller's backend, growth at its first log call | "
        f"{(memory.caller_after - memory.caller_before) / MIB:.1f} |",
        f"| the logging backend | {memory.logger / MIB:.1f} |",
        f"| total per session | {memory.added / MIB:.1f} |",
        f"| (an idle backend with PL/Python started, for scale) | "
        f"{memory.plain_backend / MIB:.1f} |",
        "",
        "| log calls in one session | caller's backend, MiB | logging backend, MiB"
        " | logging connections |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {sample.calls:,} | {sample.caller / MIB:.2f} | {sample.logger / MIB:.2f}"
        f" | {sample.loggers} |"
        for sample in findings.samples
    ]
    lines += ["", retention_summary(findings.retention)]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {target.name} | {target.measured} | {'yes' if target.met else 'NO'} |"
        for target in targets(findings)
    ]
    return "\n".join(lines)


def write(findings: Findings, directory: Path, command: str) -> None:
    """bench/RESULTS.md and the plot beside it."""
    environment = "\n".join(f"- {name}: {value}" for name, value in findings.environment.items())
    (directory / "RESULTS.md").write_text(
        "# pg_jobmon benchmark results\n\n"
        f"Written by `{command}`. The floor is pgbench running the same INSERT and UPDATE"
        " that add_step() and update_step() make, prepared, each committed on its own;"
        " pg_jobmon is a PL/pgSQL loop of add_step() + update_step() in one statement,"
        " timed by the server's clock. Both run on the same throwaway cluster, one after"
        " the other, with fsync on; figures are medians of alternating rounds.\n\n"
        f"{environment}\n\n![per-call latency and 16-client throughput](results.png)\n\n"
        f"{summary(findings)}\n"
    )
    plot(findings, directory / "results.png")


def plot(findings: Findings, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    settings = list(findings.one_client)
    labels = [f"synchronous_commit\n{setting}" for setting in settings]
    figure, (latency, throughput) = pyplot.subplots(1, 2, figsize=(10, 4.2))
    _bars(
        latency,
        labels,
        [findings.one_client[s].floor.microseconds_per_call for s in settings],
        [findings.one_client[s].jobmon.microseconds_per_call for s in settings],
        "µs per log call, 1 client (lower is better)",
    )
    _bars(
        throughput,
        labels,
        [findings.sixteen_clients[s].floor.calls_per_second for s in settings],
        [findings.sixteen_clients[s].jobmon.calls_per_second for s in settings],
        "log calls per second, 16 clients (higher is better)",
    )
    figure.suptitle("pg_jobmon log calls against the floor (pgbench, same statements)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _bars(
    axes: Axes, labels: list[str], floor: list[float], jobmon: list[float], title: str
) -> None:
    width = 0.38
    positions = list(range(len(labels)))
    for offset, values, label in ((-1, floor, "floor (pgbench)"), (1, jobmon, "pg_jobmon")):
        bars = axes.bar([p + offset * width / 2 for p in positions], values, width, label=label)
        axes.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    axes.set_xticks(positions, labels)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
