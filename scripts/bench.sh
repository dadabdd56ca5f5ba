#!/usr/bin/env bash
# make bench: runs the benchmark as the cluster user and puts its RESULTS.md and plot
# into bench/. The cluster user may not be able to write this tree, so the benchmark
# writes into a scratch directory of its own first.
# Usage: scripts/bench.sh PYTHON [BENCH OPTIONS...]
set -euo pipefail

python=${1:?usage: scripts/bench.sh PYTHON [OPTIONS...]}
shift
scratch=$(mktemp -d /var/tmp/pg_jobmon-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
if [ "$(id -u)" -eq 0 ]; then
    chown "${PG_JOBMON_CLUSTER_USER:-postgres}" "$scratch"
fi

status=0
scripts/as-postgres.sh "$python" -m bench --output-dir "$scratch" "$@" || status=$?
if [ -f "$scratch/RESULTS.md" ]; then
    cp "$scratch/RESULTS.md" "$scratch/results.png" bench/
    echo "Wrote bench/RESULTS.md and bench/results.png"
fi
exit "$status"
