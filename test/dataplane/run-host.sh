#!/usr/bin/env bash
# Run the egress-proxy data-plane suite on the host: venv in .venv-dataplane (gitignored),
# pinned mitmproxy 11.x + pytest. Extra arguments go to pytest; `--bench ARGS...` runs the
# addon's benchmark (bench.py) in the same venv instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/host-venv.sh"
cd "$repo"
if [ "${1:-}" = "--bench" ]; then
  shift
  exec "$venv/bin/python" "$here/bench.py" "$@"
fi
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$here" "$@"
