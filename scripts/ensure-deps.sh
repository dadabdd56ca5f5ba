#!/usr/bin/env bash
# Installs what the demo and the tests need, where it is missing: PL/Python and psycopg 3
# for the server's Python (Debian packages), and a virtualenv with the test tools.
# Usage: scripts/ensure-deps.sh VENV
set -euo pipefail

venv=${1:?usage: scripts/ensure-deps.sh VENV}
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

# Rebuilt whenever the requirements change; readable by the unprivileged cluster user.
stamp="$venv/requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$venv"
    (umask 022 && "$server_python" -m venv "$venv")
    (umask 022 && "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements")
    echo "$wanted" >"$stamp"
fi
