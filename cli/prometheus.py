"""Prometheus' text exposition format, version 0.0.4: one family of samples after its
HELP and TYPE lines, label values and help texts escaped as the format says."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[Mapping[str, str], float]


def label_value(value: str) -> str:
    """``value`` escaped for a label: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def help_text(text: str) -> str:
    """``text`` escaped for a HELP line: backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value as the format writes it: integers without a point, NaN, +Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def family(name: str, help: str, samples: Iterable[Sample], kind: str = "gauge") -> str:
    """The lines of one metric family."""
    lines = [f"# HELP {name} {help_text(help)}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if labels:
            pairs = ",".join(f'{key}="{label_value(text)}"' for key, text in labels.items())
            lines.append(f"{name}{{{pairs}}} {number(value)}")
        else:
            lines.append(f"{name} {number(value)}")
    return "\n".join(lines) + "\n"
