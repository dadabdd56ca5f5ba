#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmark need, where it is missing:
# PL/Python and psycopg 3 for the server's Python (Debian packages), psycopg's C
# implementation for that Python (scripts/install-psycopg-c.sh), and a virtualenv with
# the test tools, plus the packages of EXTRA requirement files.
# Usage: scripts/ensure-deps.sh VENV [EXTRA_REQUIREMENTS...]
set -euo pipefail

venv=${1:?usage: scripts/ensure-deps.sh VENV [EXTRA_REQUIREMENTS...]}
shift
requirements=tests/requirements.txt
# The server's embedded Python is the system one: psycopg must import there.
server_python=/usr/bin/python3
major=$(pg_config --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')

missing=()
[ -e "$(pg_config --pkglibdir)/plpython3.so" ] || missing+=("postgresql-plpython3-$major")
"$server_python" -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
"$server_python" -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "pg_jobmon needs these packages, to be installed by root: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi

# pg_partman is optional: tests/test_partman.py shows pg_partman logging through
# pg_jobmon, and is skipped, saying why, where the package cannot be installed.
partman=postgresql-$major-partman
if [ ! -e "$(pg_config --sharedir)/extension/pg_partman.control" ] &&
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$partman" ||
        { apt-get update -q && apt-get install -y -q "$partman"; } ||
        echo "$partman could not be installed: the pg_partman test will be skipped" >&2
fi

# Rebuilt whenever the requirements change; readable by the unprivileged cluster user.
stamp="$venv/requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    (umask 022 && "$server_python" -m venv "$venv")
    (umask 022 && "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements")
    echo "$wanted" >"$stamp"
fi

for extra in "$@"; do
    extra_stamp="$venv/$(basename "$(dirname "$extra")")-requirements.sha256"
    wanted=$(sha256sum "$extra" | cut -d' ' -f1)
    if [ "$(cat "$extra_stamp" 2>/dev/null)" != "$wanted" ]; then
        (umask 022 && "$venv/bin/pip" install -q --disable-pip-version-check -r "$extra")
        echo "$wanted" >"$extra_stamp"
    fi
done

# The C implementation makes each log call cheaper; without it psycopg's pure Python
# one is used, which works the same.
if [ "$(id -u)" -eq 0 ] && [ "${PG_JOBMON_PSYCOPG_C:-yes}" = yes ]; then
    scripts/install-psycopg-c.sh "$venv/bin/pip" ||
        echo "psycopg's C implementation could not be built: the pure Python one is used" >&2
fi
