# pipelock's source, as PIPELOCK_SOURCE names it: a .tar.gz of the tree (one top directory, as
# `git archive` makes it), checked against PIPELOCK_SOURCE_SHA256, or a directory (not
# verified). Sourced by the scripts that build or profile pipelock; they define `log` and `die`.
#
#   pipelock_source_check      checks PIPELOCK_SOURCE and Go; sets pipelock_source_sha (the
#                              tarball's sha256; empty for a directory)
#   pipelock_source_tree DIR   prints the tree's directory: the directory itself, or the
#                              tarball unpacked under DIR

pipelock_expected_sha="${PIPELOCK_SOURCE_SHA256:-8ac6694c56c3d1c5a134c0dac3a59b258ba8ea2e6d82bd177016bfbefed433a3}"

pipelock_source_check() {
  local source="${PIPELOCK_SOURCE:-}"
  [[ -n "$source" ]] || die "set PIPELOCK_SOURCE to pipelock's source (a .tar.gz or a directory)"
  [[ -e "$source" ]] || die "PIPELOCK_SOURCE=$source does not exist"
  command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH (pipelock needs Go >= 1.25; Debian: golang-go)"
  pipelock_source_sha=""
  if [[ -d "$source" ]]; then
    log "source: directory $source (not verified: only a tarball has a sha256)"
    return
  fi
  pipelock_source_sha="$(sha256sum "$source" | cut -d' ' -f1)"
  [[ "$pipelock_source_sha" == "$pipelock_expected_sha" ]] \
    || die "$source has sha256 $pipelock_source_sha, expected $pipelock_expected_sha (set PIPELOCK_SOURCE_SHA256 for another release)"
  log "source: $source (sha256 $pipelock_source_sha, verified)"
}

pipelock_source_tree() {
  local src
  if [[ -d "$PIPELOCK_SOURCE" ]]; then
    src="$(cd "$PIPELOCK_SOURCE" && pwd)"
  else
    mkdir -p "$1/src"
    tar -xzf "$PIPELOCK_SOURCE" -C "$1/src" || die "cannot unpack $PIPELOCK_SOURCE"
    src="$(find "$1/src" -mindepth 1 -maxdepth 1 -type d -print -quit)"
  fi
  [[ -f "$src/go.mod" && -d "$src/cmd/pipelock" ]] || die "$src does not look like pipelock's source (no go.mod or cmd/pipelock)"
  printf '%s\n' "$src"
}
