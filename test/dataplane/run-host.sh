#!/usr/bin/env bash
# Run the egress-proxy data-plane suite on the host: venv in .venv-dataplane (gitignored),
# pinned mitmproxy 11.x + pytest. Extra arguments go to pytest; `--bench ARGS...` runs the
# addon's benchmark (bench.py) in the same venv instead.
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
if [ "${1:-}" = "--bench" ]; then
  shift
  exec "$venv/bin/python" "$here/bench.py" "$@"
fi
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$here" "$@"
