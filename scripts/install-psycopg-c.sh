#!/usr/bin/env bash
# Builds psycopg's C implementation (psycopg-c) for the server's Python, for the very
# psycopg version installed there, against the system's libpq, and installs it where
# that Python looks for locally installed packages. psycopg then uses it by itself.
# Needs a C compiler, libpq's headers and pg_config (Debian: gcc, libpq-dev,
# python3-dev); the package index is used only to fetch psycopg-c's source.
# Usage: scripts/install-psycopg-c.sh PIP   (run as root; PIP: any pip for Python 3.x
#        matching the server's, e.g. a virtualenv's made from /usr/bin/python3)
set -euo pipefail

pip=${1:?usage: scripts/install-psycopg-c.sh PIP}
server_python=${SERVER_PYTHON:-/usr/bin/python3}

impl=$("$server_python" -c 'import psycopg; print(psycopg.pq.__impl__)')
if [ "$impl" = c ]; then
    exit 0
fi
version=$("$server_python" -c 'import psycopg; print(psycopg.__version__)')
# The first site directory for local installs (Debian: /usr/local/lib/python3.X/dist-packages).
target=$("$server_python" -c '
import site, sys
local = [path for path in site.getsitepackages() if path.startswith(sys.base_prefix + "/local/")]
print(local[0] if local else site.getsitepackages()[0])')

echo "Building psycopg-c $version for $server_python into $target (takes about a minute)"
(umask 022 && "$pip" install -q --disable-pip-version-check --no-deps --upgrade \
    --target "$target" "psycopg-c==$version")
"$server_python" -c '
import psycopg
assert psycopg.pq.__impl__ == "c", psycopg.pq.__impl__
print(f"psycopg {psycopg.__version__} now uses its C implementation ({psycopg.pq.__impl__})")'
