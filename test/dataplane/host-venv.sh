# Sourced by test/dataplane/run-host.sh and scripts/lint-python: makes the host's data-plane venv,
# .venv-dataplane (gitignored), with the pinned packages of requirements-host.txt (installed
# again whenever that file changes), and sets $venv to it.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/.venv-dataplane"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
if ! cmp -s "$repo/test/dataplane/requirements-host.txt" "$venv/.requirements-host.txt"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo/test/dataplane/requirements-host.txt"
  cp "$repo/test/dataplane/requirements-host.txt" "$venv/.requirements-host.txt"
fi
