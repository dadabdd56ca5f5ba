"""Writes the collector files of doc/collectors/ from cli/metrics_sql.py, the SQL that
`pg_jobmon metrics` runs: `python3 scripts/collectors.py` after changing a metric
(tests/test_command_metrics.py fails while the files differ from what this writes).

- sql_exporter.collector.yml: a collector of sql_exporter (burningalchemist/sql_exporter).
- postgres_exporter.queries.yaml: a queries file of postgres_exporter (its
  --extend.query-path), which names a metric <query>_<column> as the command does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import metrics_sql  # noqa: E402

OUTPUT = ROOT / "doc" / "collectors"
# The schema the documentation uses; the header says to put yours in its place.
SCHEMA = "jobmon"
HEADER = """\
# {title}: the metrics of `pg_jobmon metrics` (see doc/monitoring.md,
# "Metrics for Prometheus"). Generated from cli/metrics_sql.py by scripts/collectors.py.
# The queries name the schema jobmon: put yours in its place. The window of the runs,
# failures and durations is pg_jobmon.summary_window (1 day by default), e.g.
#   ALTER ROLE monitor SET pg_jobmon.summary_window = '1 hour';
# The role needs the README's monitor grants.
"""


def quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON's strings are YAML's)."""
    return json.dumps(text)


def block(text: str, indent: str) -> str:
    """A YAML literal block of ``text``, each line indented by ``indent``."""
    return "|\n" + "".join(f"{indent}{line}\n" for line in text.splitlines())


def query_text(query: metrics_sql.Query) -> str:
    return query.sql.format(schema=SCHEMA)


def sql_exporter() -> str:
    lines = [HEADER.format(title="sql_exporter collector"), "collector_name: pg_jobmon\n"]
    lines.append("\nmetrics:\n")
    for query in metrics_sql.QUERIES:
        for metric in query.metrics:
            lines.append(f"  - metric_name: {query.metric_name(metric)}\n")
            lines.append("    type: gauge\n")
            lines.append(f"    help: {quoted(metric.help)}\n")
            lines.append(f"    key_labels: [{', '.join(query.labels)}]\n")
            lines.append(f"    values: [{metric.column}]\n")
            lines.append(f"    query_ref: {query.name}\n")
    lines.append("\nqueries:\n")
    for query in metrics_sql.QUERIES:
        lines.append(f"  # {query.help}\n")
        lines.append(f"  - query_name: {query.name}\n")
        lines.append(f"    query: {block(query_text(query), '      ')}")
    return "".join(lines)


def postgres_exporter() -> str:
    lines = [HEADER.format(title="postgres_exporter queries")]
    for query in metrics_sql.QUERIES:
        lines.append(f"\n# {query.help}\n")
        lines.append(f"{query.namespace}:\n")
        lines.append(f"  query: {block(query_text(query), '    ')}")
        lines.append("  master: true\n")
        lines.append("  metrics:\n")
        for label in query.labels:
            lines.append(f"    - {label}:\n")
            lines.append('        usage: "LABEL"\n')
            lines.append(f"        description: {quoted(metrics_sql.LABELS[label])}\n")
        for metric in query.metrics:
            lines.append(f"    - {metric.column}:\n")
            lines.append('        usage: "GAUGE"\n')
            lines.append(f"        description: {quoted(metric.help)}\n")
    return "".join(lines)


FILES = {
    "sql_exporter.collector.yml": sql_exporter,
    "postgres_exporter.queries.yaml": postgres_exporter,
}


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name, write in FILES.items():
        (OUTPUT / name).write_text(write())


if __name__ == "__main__":
    main()
