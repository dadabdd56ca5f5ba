"""The benchmark's findings: the targets, the printed summary, RESULTS.md and the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.first_call import FirstCall
from bench.footprint import Backlog, Sample, SessionMemory
from bench.implementations import PYTHON, C, Implementation
from bench.retention import Retention
from bench.retention import summary as retention_summary
from bench.working_job import WorkingJob
from bench.workloads import Pair, Throughput

__all__ = ["Findings", "Pair", "Target", "summary", "targets", "write"]

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_RATIO_ONE_CLIENT = 1.3
# The same with psycopg's pure Python implementation (Debian's python3-psycopg alone).
MAX_RATIO_PURE_PYTHON = 1.4
MAX_RATIO_BY_IMPLEMENTATION = {C: MAX_RATIO_ONE_CLIENT, PYTHON: MAX_RATIO_PURE_PYTHON}
# A job working between its log calls, wait_for_writes off: what a call adds to the job,
# as a share of the floor's per-call time.
MAX_ADDED_NOT_WAITING = 0.3
MIN_RATIO_SIXTEEN_CLIENTS = 0.8
MAX_OWN_FIRST_CALL_SECONDS = 0.015
MAX_GROWTH_BYTES = 1024 * 1024
# Retention draining a backlog: close_job may take this much longer (median call).
MAX_RETENTION_ADDED_MS = 10.0
MIB = 1024 * 1024


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
    c_installed: bool  # psycopg_c in the server's Python
    implementations: list[Implementation]  # the 1-client figures per psycopg implementation
    no_wait: dict[str, Throughput]  # 1 client, wait_for_writes off, by synchronous_commit
    working_job: WorkingJob
    backlog: Backlog

    @property
    def floor_call_seconds(self) -> float:
        """The floor's per-call time: 1 client, synchronous_commit on."""
        floor = self.one_client["on"].floor
        return floor.seconds / floor.calls


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool


def targets(findings: Findings) -> list[Target]:
    sixteen = findings.sixteen_clients["on"]
    first = findings.first_call
    steady = findings.samples[1:]
    caller_growth = steady[-1].caller - steady[0].caller
    logger_growth = steady[-1].logger - steady[0].logger
    loggers = sorted({sample.loggers for sample in findings.samples})
    return [
        *_implementation_targets(findings),
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
        Target(
            "a job working between its log calls, wait_for_writes off: a log call adds"
            f" <= {MAX_ADDED_NOT_WAITING}x the floor's per-call time",
            f"{added_share(findings, 'off'):.2f}x"
            f" ({findings.working_job.added_per_call('off') * 1e6:.0f} µs)",
            added_share(findings, "off") <= MAX_ADDED_NOT_WAITING,
        ),
        Target(
            f"{findings.backlog.calls:,} log calls that do not wait, in a tight loop:"
            " caller's memory bounded",
            f"{findings.backlog.growth / 1024:+.0f} KiB at most",
            findings.backlog.growth < MAX_GROWTH_BYTES,
        ),
    ]


def _implementation_targets(findings: Findings) -> list[Target]:
    """The 1-client target of each psycopg implementation measured that has one."""
    return [
        Target(
            f"1 client, psycopg's {_implementation_name(run.name)}: log call"
            f" <= {MAX_RATIO_BY_IMPLEMENTATION[run.name]}x the floor (synchronous_commit on)",
            f"{run.one_client['on'].latency_ratio:.2f}x",
            run.one_client["on"].latency_ratio <= MAX_RATIO_BY_IMPLEMENTATION[run.name],
        )
        for run in findings.implementations
        if run.name in MAX_RATIO_BY_IMPLEMENTATION
    ]


def added_share(findings: Findings, wait_for_writes: str) -> float:
    """What a log call adds to the working job, as a share of the floor's per-call time."""
    return findings.working_job.added_per_call(wait_for_writes) / findings.floor_call_seconds


def _implementation_name(name: str) -> str:
    return {C: "C implementation", PYTHON: "pure Python implementation"}.get(
        name, f"{name} implementation"
    )


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
    for setting, not_waiting in findings.no_wait.items():
        floor = findings.one_client[setting].floor
        lines.append(
            f"| 1 client, µs per log call that does not wait (wait_for_writes off),"
            f" synchronous_commit {setting} | {floor.microseconds_per_call:.0f}"
            f" | {not_waiting.microseconds_per_call:.0f}"
            f" | {not_waiting.microseconds_per_call / floor.microseconds_per_call:.2f}x |"
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
    lines += ["", *_implementations_summary(findings)]
    lines += ["", *_working_job_summary(findings)]
    lines += ["", *_backlog_summary(findings.backlog)]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {target.name} | {target.measured} | {'yes' if target.met else 'NO'} |"
        for target in targets(findings)
    ]
    return "\n".join(lines)


def _implementations_summary(findings: Findings) -> list[str]:
    lines = [
        "1 client, µs per log call with each psycopg implementation in the server (the"
        " cluster restarted with PSYCOPG_IMPL for each; each beside the floor, in turn):",
        "",
        "| psycopg used by the backends | synchronous_commit | floor (pgbench) | pg_jobmon"
        " | ratio | target |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in findings.implementations:
        target = MAX_RATIO_BY_IMPLEMENTATION.get(run.name)
        for setting, pair in run.one_client.items():
            lines.append(
                f"| {run.reported} | {setting} | {pair.floor.microseconds_per_call:.0f}"
                f" | {pair.jobmon.microseconds_per_call:.0f} | {pair.latency_ratio:.2f}x"
                f" | {f'<= {target}x' if target and setting == 'on' else ''} |"
            )
    if not findings.c_installed:
        lines += [
            "",
            "psycopg's C implementation (psycopg_c) is not installed in the server's Python:"
            " only the pure Python implementation was measured.",
        ]
    return lines


def _working_job_summary(findings: Findings) -> list[str]:
    job = findings.working_job
    floor = findings.floor_call_seconds
    lines = [
        f"A job that works between its log calls ({job.steps:,} steps, each: add_step,"
        f" {job.work_seconds * 1e6:.0f} µs of CPU work in the caller's backend (a count of"
        f" {job.rows:,} rows, calibrated at the start), update_step, the same work again;"
        " timed up to the return of close_job; medians of"
        f" {job.rounds} rounds; the floor's per-call time is {floor * 1e6:.0f} µs):",
        "",
        "| | µs per step | µs a log call adds to the job | ratio to the floor's per-call time |",
        "|---|---:|---:|---:|",
        f"| the work alone, no log calls | {job.alone * 1e6:.0f} | | |",
    ]
    for setting, label in (("on", "waiting (wait_for_writes on)"), ("off", "wait_for_writes off")):
        lines.append(
            f"| with its log calls, {label} | {job.logging[setting] * 1e6:.0f}"
            f" | {job.added_per_call(setting) * 1e6:.0f} | {added_share(findings, setting):.2f}x |"
        )
    return lines


def _backlog_summary(backlog: Backlog) -> list[str]:
    before = backlog.samples[0][1]
    highest = max(taken for _, taken in backlog.samples)
    return [
        f"Caller's backend along {backlog.calls:,} log calls that do not wait, in a tight loop"
        f" ({backlog.seconds:.1f} s, {len(backlog.samples)} samples): anonymous memory"
        f" {before / MIB:.2f} MiB before, {highest / MIB:.2f} MiB at most,"
        f" {backlog.samples[-1][1] / MIB:.2f} MiB after ({backlog.growth / 1024:+.0f} KiB"
        " at most).",
    ]


def write(findings: Findings, directory: Path, command: str) -> None:
    """bench/RESULTS.md and the plot beside it."""
    environment = "\n".join(f"- {name}: {value}" for name, value in findings.environment.items())
    (directory / "RESULTS.md").write_text(
        "# pg_jobmon benchmark results\n\n"
        f"Written by `{command}`, on one throwaway cluster with fsync on; figures are"
        " medians of alternating rounds, so that a slow spell of the machine hits every"
        " workload compared alike.\n\n"
        "- The floor: pgbench running the same INSERT and UPDATE that add_step() and"
        " update_step() make, prepared, each committed on its own: what no autonomous"
        " write can go below.\n"
        "- pg_jobmon: a PL/pgSQL loop of add_step() + update_step() in one statement, timed"
        " by the server's clock up to the return of the job's close_job(); 1 client beside"
        " the floor's 1 client, 16 sessions beside 16 pgbench clients.\n"
        "- psycopg implementations: the 1-client comparison again with each implementation"
        " of psycopg the server's Python has (the C one, psycopg_c, when installed, and the"
        " pure Python one that Debian's python3-psycopg ships alone), the cluster restarted"
        " with PSYCOPG_IMPL for each; the implementation named is the one the backends"
        " imported.\n"
        "- Log calls that do not wait (pg_jobmon.wait_for_writes = off), in the same tight"
        " loop: they are still bound by the logging server's commits. Each write is a"
        " transaction of its own and, with synchronous_commit on, a WAL flush of its own;"
        " at most two writes are left unanswered, so a call that finds two waits until the"
        " logging backend has committed the older. A loop with nothing between its calls"
        " therefore goes at the pace of those commits, near the floor, which pays the same"
        " commit per statement, with the next write always queued at the logging backend:"
        " not waiting saves the caller the round trip, and that shows only where the"
        " caller has work of its own to do meanwhile. The caller's memory is sampled along"
        " that loop: the backlog is two writes, not a queue that grows with the calls.\n"
        "- A job that works between its log calls: each step is add_step, CPU work in the"
        " caller's backend, update_step and the same work again; the work alone is timed"
        " beside the job with its log calls, waiting and not; a log call adds the"
        " difference per step over its two calls. After every run of every pg_jobmon"
        " workload, each step it logged is checked to be in job_detail, ended, once"
        " close_job returned: a missing row fails the benchmark.\n"
        "- The first call of a session, the memory a logging session takes and keeps,"
        " and retention's cost in close_job over a backlog of expired runs.\n\n"
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
    figure, (latency, throughput) = pyplot.subplots(1, 2, figsize=(11, 4.4))
    _bars(
        latency,
        labels,
        [
            (
                "floor (pgbench)",
                [findings.one_client[s].floor.microseconds_per_call for s in settings],
            ),
            *(
                (
                    f"pg_jobmon, psycopg {run.name}",
                    [run.one_client[s].jobmon.microseconds_per_call for s in settings],
                )
                for run in findings.implementations
            ),
            (
                f"pg_jobmon, psycopg {findings.implementations[0].name}, wait_for_writes off",
                [findings.no_wait[s].microseconds_per_call for s in settings],
            ),
        ],
        "µs per log call, 1 client (lower is better)",
    )
    _bars(
        throughput,
        labels,
        [
            (
                "floor (pgbench)",
                [findings.sixteen_clients[s].floor.calls_per_second for s in settings],
            ),
            ("pg_jobmon", [findings.sixteen_clients[s].jobmon.calls_per_second for s in settings]),
        ],
        "log calls per second, 16 clients (higher is better)",
    )
    figure.suptitle("pg_jobmon log calls against the floor (pgbench, same statements)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _bars(axes: Axes, labels: list[str], series: list[tuple[str, list[float]]], title: str) -> None:
    """One group of bars per label, one bar per series in each."""
    width = 0.8 / len(series)
    positions = list(range(len(labels)))
    for index, (label, values) in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * width
        bars = axes.bar([p + offset for p in positions], values, width, label=label)
        axes.bar_label(bars, fmt="{:,.0f}", fontsize=7)
    axes.set_xticks(positions, labels)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7)
