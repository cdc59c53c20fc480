# Sourced by the project's scripts: puts a Pulumi CLI (>= PULUMI_MIN_VERSION) first on PATH
# and says which CLI and which providers will be used. Never silent.
#
#   1. a `pulumi` already on PATH (Pulumi's installer: https://www.pulumi.com/docs/install/)
#      is used as is; its providers are the plugins it installs on first use;
#   2. otherwise, when BOT_BOTTLE_PULUMI_BUNDLE names a toolchain tarball (one directory
#      `pulumi-toolchain/bin/` with the CLI, the Node.js language host and the docker, tls and
#      command providers, for machines that cannot download them), it is checked against
#      BOT_BOTTLE_PULUMI_BUNDLE_SHA256 when that is set, unpacked once into
#      .tools/pulumi-toolchain-<sha256 prefix>/ and put first on PATH; its providers are found
#      on PATH and plugin downloads are turned off;
#   3. BOT_BOTTLE_KUBERNETES_PROVIDER, when set, names the Kubernetes provider's tarball (one
#      directory `pulumi-kubernetes-provider/bin/`), checked against
#      BOT_BOTTLE_KUBERNETES_PROVIDER_SHA256 when set, unpacked the same way and put on PATH.
# The docker provider must know `uploads[].owner/group` (the program sets them; Docker SDK 5.2.0
# sends them): upstream pulumi-resource-docker >= 5.2.0 does, and so does a 5.1.0 built with
# that one patch. A docker provider on PATH is checked for them in its schema (once per binary,
# by sha256); one the CLI installs as a plugin is the SDK's version.
# Returns non-zero with a message when neither gives a CLI, or the docker provider lacks them.
PULUMI_MIN_VERSION=3.259.0
export PULUMI_SKIP_UPDATE_CHECK=1

_pulumi_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

_pulumi_version_ok() { # version
  printf '%s\n%s\n' "$PULUMI_MIN_VERSION" "$1" | sort -V -C # in order: at least the minimum
}

_pulumi_unpack() { # bundle expected-sha256 dir-prefix binary-path-inside; prints the unpacked dir
  local bundle="$1" expected="$2" prefix="$3" binary="$4" sum dir
  [ -f "$bundle" ] || { echo "pulumi: $bundle is not a file" >&2; return 1; }
  sum="$(sha256sum "$bundle" | cut -d' ' -f1)"
  if [ -n "$expected" ] && [ "$sum" != "$expected" ]; then
    echo "pulumi: $bundle has sha256 $sum, expected $expected" >&2
    return 1
  fi
  dir="$_pulumi_repo/.tools/$prefix-${sum:0:12}"
  if [ ! -x "$dir/$binary" ]; then
    echo "pulumi: unpacking $bundle (sha256 $sum) into ${dir#"$_pulumi_repo"/}" >&2
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    tar -xzf "$bundle" -C "$dir.partial" || { echo "pulumi: cannot unpack $bundle" >&2; return 1; }
    [ -x "$dir.partial/$binary" ] || { echo "pulumi: $bundle has no $binary" >&2; return 1; }
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  echo "pulumi: using $bundle (sha256 $sum)" >&2
  printf '%s\n' "$dir"
}

_pulumi_from_bundle() {
  local dir
  dir="$(_pulumi_unpack "$BOT_BOTTLE_PULUMI_BUNDLE" "${BOT_BOTTLE_PULUMI_BUNDLE_SHA256:-}" pulumi-toolchain pulumi-toolchain/bin/pulumi)" || return 1
  export PATH="$dir/pulumi-toolchain/bin:$PATH"
  # Providers come from PATH (ambient plugins); nothing may be downloaded.
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
}

# The Kubernetes provider, for bottles with `backend: kubernetes`, from its own tarball when
# one is named (one directory `pulumi-kubernetes-provider/bin/`), like the toolchain's.
_pulumi_kubernetes_from_bundle() {
  local dir
  dir="$(_pulumi_unpack "$BOT_BOTTLE_KUBERNETES_PROVIDER" "${BOT_BOTTLE_KUBERNETES_PROVIDER_SHA256:-}" pulumi-kubernetes \
    pulumi-kubernetes-provider/bin/pulumi-resource-kubernetes)" || return 1
  export PATH="$dir/pulumi-kubernetes-provider/bin:$PATH"
}

# Whether the docker provider binary's schema has uploads[].owner/group; a passing answer is
# cached per binary sha256 under .tools/provider-checks/.
_pulumi_docker_provider_ok() { # binary
  local binary="$1" sum ok schema
  sum="$(sha256sum "$binary" | cut -d' ' -f1)"
  ok="$_pulumi_repo/.tools/provider-checks/docker-$sum.ok"
  [ -f "$ok" ] && return 0
  schema="$(pulumi package get-schema "$binary")" \
    || { echo "pulumi: 'pulumi package get-schema $binary' failed" >&2; return 1; }
  if ! printf '%s' "$schema" | node -e '
      const schema = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const upload = schema.types?.["docker:index/ContainerUpload:ContainerUpload"]?.properties ?? {};
      process.exit("owner" in upload && "group" in upload ? 0 : 1);'; then
    echo "pulumi: the docker provider $binary (sha256 $sum) has no uploads[].owner/group in its schema;" \
      "bot-bottle needs pulumi-resource-docker >= 5.2.0 (or 5.1.0 with the upload owner/group patch):" \
      "put one first on PATH, or take it off PATH so the CLI installs the version the SDK asks for" >&2
    return 1
  fi
  mkdir -p "${ok%/*}" && : >"$ok"
}

_pulumi_setup() {
  local version providers p
  if ! command -v pulumi >/dev/null 2>&1; then
    if [ -z "${BOT_BOTTLE_PULUMI_BUNDLE:-}" ]; then
      echo "pulumi: no Pulumi CLI on PATH; install it (https://www.pulumi.com/docs/install/), or set BOT_BOTTLE_PULUMI_BUNDLE to a toolchain tarball" >&2
      return 1
    fi
    _pulumi_from_bundle || return 1
  fi
  version="$(pulumi version 2>/dev/null)" || { echo "pulumi: '$(command -v pulumi) version' failed" >&2; return 1; }
  version="${version#v}"
  _pulumi_version_ok "$version" \
    || { echo "pulumi: $(command -v pulumi) is $version; bot-bottle needs >= $PULUMI_MIN_VERSION" >&2; return 1; }
  if [ -n "${BOT_BOTTLE_KUBERNETES_PROVIDER:-}" ]; then _pulumi_kubernetes_from_bundle || return 1; fi
  providers=""
  for p in docker tls command kubernetes; do
    if command -v "pulumi-resource-$p" >/dev/null 2>&1; then
      providers="$providers $p=$(command -v "pulumi-resource-$p")"
    else
      providers="$providers $p=(plugin, installed by the CLI on first use)"
    fi
  done
  echo "pulumi: CLI $version at $(command -v pulumi); providers:$providers" >&2
  if command -v pulumi-resource-docker >/dev/null 2>&1; then
    _pulumi_docker_provider_ok "$(command -v pulumi-resource-docker)" || return 1
  fi
}

# A script another one started (scripts/up runs scripts/set-tokens, then scripts/pulumi) inherits
# the CLI and providers set up and checked here, on its PATH: it says and checks nothing again.
_pulumi_tools() { printf '%s|%s' "$(command -v pulumi 2>/dev/null)" "$(command -v pulumi-resource-docker 2>/dev/null)"; }
if [ -n "${BOT_BOTTLE_PULUMI_CHECKED:-}" ] && [ "$BOT_BOTTLE_PULUMI_CHECKED" = "$(_pulumi_tools)" ]; then
  _pulumi_status=0
else
  _pulumi_setup
  _pulumi_status=$?
  if [ "$_pulumi_status" = 0 ]; then BOT_BOTTLE_PULUMI_CHECKED="$(_pulumi_tools)" && export BOT_BOTTLE_PULUMI_CHECKED; fi
fi
unset -f _pulumi_setup _pulumi_from_bundle _pulumi_unpack _pulumi_kubernetes_from_bundle _pulumi_docker_provider_ok _pulumi_tools
unset _pulumi_repo
return "$_pulumi_status"
