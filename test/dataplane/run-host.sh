#!/usr/bin/env bash
# Run the egress-proxy data-plane suite on the host: venv in .venv-dataplane (gitignored),
# pinned mitmproxy 11.x + pytest. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-dataplane"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements-host.txt"
if ! cmp -s "$here/requirements-host.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-host.txt"
  cp "$here/requirements-host.txt" "$stamp"
fi
cd "$repo"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$here" "$@"
