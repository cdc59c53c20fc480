# Sourced by scripts/up, scripts/pulumi and scripts/set-tokens: the Pulumi CLI and providers
# (scripts/lib/pulumi.sh), Node 22, the backend (PULUMI_BACKEND_URL, else the local file
# backend, ~/.pulumi, as `pulumi login --local`), and the stack config file every Pulumi run
# reads, made from the tracked Pulumi.<stack>.yaml so that no run writes that file
# (scripts/stack-config.ts says why and what it adds).
_stack_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$_stack_repo/scripts/lib/pulumi.sh" || return 1
source "$_stack_repo/scripts/lib/node22.sh" || return 1
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://~}"

_stack_config_ts() { # write|check|placeholders STACK
  [ -x "$_stack_repo/node_modules/.bin/tsx" ] \
    || { echo "stack: the npm dependencies are missing ($_stack_repo/node_modules/.bin/tsx): run npm ci first" >&2; return 1; }
  (cd "$_stack_repo" && node --import tsx scripts/stack-config.ts "$@")
}

# stack_config STACK: (re)makes .stacks/Pulumi.STACK.yaml and prints its path.
stack_config() { _stack_config_ts write "$1"; }

# stack_config_check STACK: fails, saying what to do, when a `config` command changed what
# the next stack_config drops (anything but the values of the tokens the tracked file names).
stack_config_check() { _stack_config_ts check "$1"; }

# stack_placeholders STACK: the tokens the generated file still holds as placeholders.
stack_placeholders() { _stack_config_ts placeholders "$1"; }

# stack_ensure STACK: selects the stack, creating it (passphrase secrets) when the backend has
# none. `pulumi stack init` writes a salt into the stack file of the directory it runs in, so it
# runs in a scratch copy of the project; the salt is read back from the stack's state.
stack_ensure() {
  local stack="$1" scratch
  if pulumi stack select "$stack" 2>/dev/null; then return 0; fi
  scratch="$(mktemp -d)"
  cp "$_stack_repo/Pulumi.yaml" "$scratch/"
  if ! pulumi -C "$scratch" stack init --secrets-provider passphrase --no-select "$stack"; then
    rm -rf "$scratch"
    return 1
  fi
  rm -rf "$scratch"
  pulumi stack select "$stack"
}
