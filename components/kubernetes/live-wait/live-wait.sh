# Waits until every running pod of a gate has loaded its live configuration's document, on
# Kubernetes: `up` returns only once a change is live. Run by the deployment (command resource)
# on the machine that runs Pulumi, with `kubectl`, after the document's ConfigMap (and the
# tokens' Secret) and the gate's Deployment are in place. kubelet swaps the mounted files at its
# next sync, the pod's reloader sidecar sends SIGHUP and the gate logs a `config_reload` line
# with the document's sha256; a gate started after the change logs it in its `startup` line.
# Only lines logged since the objects last changed count (their managedFields times, the API
# server's clock, which the node's must agree with). No token reaches this script. From the
# environment:
#   BOTTLE_STACK, BOTTLE_NAME, BOTTLE_ROLE  whose configuration this is (the gate's role, its container)
#   BOTTLE_NAMESPACE    the bottle's namespace
#   BOTTLE_SELECTOR     the gate's pods' label selector
#   BOTTLE_OBJECTS      the live configuration's objects: configmap/<name> [secret/<name>]
#   BOTTLE_CONFIG_HASH  the document's sha256
#   BOTTLE_WAIT_SECONDS how long the pods may take
#   BOTTLE_KUBECONFIG   a kubeconfig's path or contents (optional), BOTTLE_CONTEXT its context (optional)
set -eu
what="$BOTTLE_STACK/$BOTTLE_NAME $BOTTLE_ROLE"
fail() {
  echo "bot-bottle live config: $what: $1" >&2
  exit 1
}
command -v kubectl >/dev/null 2>&1 ||
  fail "kubectl is not on PATH: on Kubernetes, up needs kubectl to confirm that the gates loaded the new configuration; install it and run up again"

kubeconfig="${BOTTLE_KUBECONFIG:-}"
case "$kubeconfig" in
*"
"*)
  # Contents (they may hold credentials): a private file, never a command line.
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  (umask 077 && printf '%s\n' "$kubeconfig" >"$dir/kubeconfig")
  kubeconfig="$dir/kubeconfig"
  ;;
esac
k() { kubectl ${kubeconfig:+--kubeconfig "$kubeconfig"} ${BOTTLE_CONTEXT:+--context "$BOTTLE_CONTEXT"} -n "$BOTTLE_NAMESPACE" "$@"; }

# 1. Since when: the last change of the objects (RFC 3339 times sort as text).
since=$(for object in $BOTTLE_OBJECTS; do
  k get "$object" -o jsonpath='{range .metadata.managedFields[*]}{.time}{"\n"}{end}'
done | sort | tail -n 1)
[ -n "$since" ] || fail "no change time on $BOTTLE_OBJECTS in namespace $BOTTLE_NAMESPACE"

# 2. The gate's pods that are not going away (a rollout's old pods drain and stop).
pods=$(k get pods -l "$BOTTLE_SELECTOR" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' |
  awk 'NF == 1 { print $1 }')
[ -n "$pods" ] || fail "no running pod of the gate ($BOTTLE_SELECTOR) in namespace $BOTTLE_NAMESPACE to confirm the new configuration"

# 3. Each must confirm the hash; a refusal fails at once, else the wait is bounded.
lines() { k logs "$1" -c "$BOTTLE_ROLE" --since-time="$since" 2>&1; }
confirms() {
  grep -e '"event":"config_reload"' -e '"event":"startup"' | grep -v '"status":"rejected"' |
    grep -q "\"config_hash\":\"$BOTTLE_CONFIG_HASH\""
}
refusals() { grep -e '"status":"rejected"' -e 'config reload failed' -e '"method":"CONFIG_RELOAD".*rejected' -e 'refusing to start'; }
reload_lines() {
  echo "its last reload lines (kubectl logs -n $BOTTLE_NAMESPACE $1 -c $BOTTLE_ROLE):" >&2
  k logs "$1" -c "$BOTTLE_ROLE" --tail=500 2>&1 |
    grep -e '"event":"config_reload"' -e '"event":"startup"' -e 'config reload' -e 'refusing to start' | tail -n 5 >&2 || true
  echo "and its reloader's (-c reloader):" >&2
  k logs "$1" -c reloader --tail=3 >&2 2>&1 || true
}
deadline=$(($(date +%s) + BOTTLE_WAIT_SECONDS))
for pod in $pods; do
  until out=$(lines "$pod") && printf '%s\n' "$out" | confirms; do
    if refused=$(printf '%s\n' "$out" | refusals); then
      printf '%s\n' "$refused" | tail -n 3 >&2
      fail "pod $pod refused the new configuration (sha256 $BOTTLE_CONFIG_HASH; its lines above): it keeps serving its previous one until it restarts, and then refuses to start; fix the configuration and run up again"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      reload_lines "$pod"
      fail "pod $pod did not confirm the new configuration (sha256 $BOTTLE_CONFIG_HASH) within $BOTTLE_WAIT_SECONDS s (kubelet swaps a mounted ConfigMap at its next sync; its reloader then signals the gate); run up again to wait again"
    fi
    sleep 1
  done
done
echo "bot-bottle live config: $what: sha256 $BOTTLE_CONFIG_HASH loaded by $(echo "$pods" | wc -w) pod(s):" $pods
