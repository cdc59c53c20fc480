# bot-bottle self-test, run by Pulumi after a bottle's containers are up (and again whenever
# one is replaced). It fails the deployment if the bottle leaks. Everything variable comes
# from the environment (no quoting in here depends on it):
#   BOTTLE_PROCESS_LIMITS          "container=limit ..." as the limits command applied them
#   BOTTLE_NO_DNS_CONTAINERS       containers whose DNS must point inside their own namespace
#   BOTTLE_IMAGE                   an image with a Python to run the probe (the egress proxy's)
#   BOTTLE_RUN_OPTIONS             the probe container's docker run options: the agent's network
#                                  namespace, its Python, the agent's proxy URL (docker/one-shot.ts)
#   BOTTLE_SELF_TEST_PROBE         the probe (probe.py)
# Checks: each container's process limit and DNS setting (from the engine), then, from the
# agent's own network namespace, that nothing but the egress proxy answers (probe.py).
set -u
failed=0
fail() { echo "bot-bottle self-test: FAIL: $*" >&2; failed=1; }

engine=$(docker version --format '{{.Server.Version}}') || { echo "bot-bottle self-test: FAIL: no Docker engine answers" >&2; exit 1; }
case "$engine" in
  1[0-9].* | 2[0-2].* | 23.0.[0-9] | 23.0.[0-9][+-]* | 23.0.10* | 24.* | 25.0.[0-4] | 25.0.[0-4][+-]* | 26.0.0-rc[12]*)
    echo "bot-bottle self-test: note: Docker $engine is in the CVE-2024-29018 range (DNS forwarded from internal networks); the bottle points its containers' DNS inside their own namespace, checked below" ;;
esac

for pair in $BOTTLE_PROCESS_LIMITS; do
  container=${pair%%=*} limit=${pair#*=}
  got=$(docker inspect -f '{{.HostConfig.PidsLimit}}' "$container") || { fail "cannot inspect $container"; continue; }
  [ "$got" = "$limit" ] || fail "$container has a process limit of '$got', expected $limit"
done
for container in $BOTTLE_NO_DNS_CONTAINERS; do
  got=$(docker inspect -f '{{json .HostConfig.Dns}}' "$container") || { fail "cannot inspect $container"; continue; }
  [ "$got" = '["0.0.0.0"]' ] || fail "$container resolves through $got instead of inside its own namespace"
done

# The probe: in the agent's network namespace, as nobody, nothing else (BOTTLE_RUN_OPTIONS).
# shellcheck disable=SC2086 # one word per option (docker/one-shot.ts)
docker run --rm $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE" -c "$BOTTLE_SELF_TEST_PROBE" || failed=1
exit "$failed"
