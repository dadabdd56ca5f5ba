#!/usr/bin/env bash
# Runs a command as the unprivileged user that owns the throwaway clusters, since
# PostgreSQL refuses to run as root. Run by any other user, it runs the command as is.
# If that user cannot read this tree (a clone under /root, say), it runs in a copy.
set -euo pipefail

user=${PG_JOBMON_CLUSTER_USER:-postgres}
if [ "$(id -u)" -ne 0 ]; then
    exec "$@"
fi

workdir=$PWD
copy=
if ! runuser -u "$user" -- test -r "$workdir/Makefile" -a -x "$workdir/tests"; then
    copy=$(mktemp -d /var/tmp/pg_jobmon-tree.XXXXXX)
    tar -C "$workdir" --exclude=.git -cf - . | tar -C "$copy" -xf -
    chmod -R a+rX "$copy"
    workdir=$copy
fi

status=0
(cd "$workdir" && runuser -u "$user" -- env PYTHONDONTWRITEBYTECODE=1 "$@") || status=$?
[ -z "$copy" ] || rm -rf "$copy"
exit "$status"
