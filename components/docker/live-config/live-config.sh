# Puts a gate's live configuration in place and has the running gate reload it (no restart).
# Run by the deployment (command resource) on the machine that runs Pulumi, with the `docker`
# CLI. The document arrives on stdin; token values, if any, in BOTTLE_TOKENS (never on a
# command line: printf is the shell's own). Everything else comes from the environment:
#   BOTTLE_STACK, BOTTLE_NAME, BOTTLE_ROLE  whose configuration this is (the gate's role)
#   BOTTLE_VOLUME       the gate's configuration volume
#   BOTTLE_IMAGE        an image with the writer (the egress proxy's)
#   BOTTLE_RUN_OPTIONS  the writer container's docker run options
#   BOTTLE_OWNER        the gate's uid
#   BOTTLE_DOCUMENT     the document's file name; BOTTLE_TOKENS_FILE the tokens' (optional)
#   BOTTLE_CHECK        a check the writer runs first (optional: routes)
#   BOTTLE_LABELS       the gate containers' labels, "key=value ..."; the running ones reload
#   BOTTLE_RELOAD_SECONDS  how long a gate may take to confirm
set -eu
what="$BOTTLE_STACK/$BOTTLE_NAME $BOTTLE_ROLE"

# The writer: a throwaway container with no network, only the capabilities to hand the files
# to the gate's uid, the volume at /live and nothing else (its options: BOTTLE_RUN_OPTIONS).
writer() {
  # shellcheck disable=SC2086 # one word per option (docker/one-shot.ts)
  docker run --rm -i $BOTTLE_RUN_OPTIONS "$BOTTLE_IMAGE" /opt/egress-proxy/live_config.py --dir /live "$@"
}

# A gate refused what was put in place: go back to the files it still serves, so that a
# restart does not load the refused ones either, and fail.
refused() {
  echo "bot-bottle live config: $what: $1; it keeps its previous configuration." >&2
  writer --rollback </dev/null
  exit 1
}

# 1. The writer validates, writes a new generation, swaps `current` in one rename and prints
#    the document's sha256.
hash=$(
  {
    if [ -n "${BOTTLE_TOKENS_FILE:-}" ]; then printf '%s\n' "$BOTTLE_TOKENS"; fi
    cat
  } | writer --owner "$BOTTLE_OWNER" --document "$BOTTLE_DOCUMENT" \
    ${BOTTLE_TOKENS_FILE:+--tokens "$BOTTLE_TOKENS_FILE"} ${BOTTLE_CHECK:+--check "$BOTTLE_CHECK"}
) || { echo "bot-bottle live config: $what: the new configuration was not put in place (above); the gate keeps its current one" >&2; exit 1; }

# 2. The gates running with these labels (none on the first up, or when the change replaces
#    them: a new container reads the new files as it starts) reload, and each must confirm
#    this hash in a `config_reload` line of its log.
filters=""
for label in $BOTTLE_LABELS; do filters="$filters --filter label=$label"; done
# shellcheck disable=SC2086 # one word per filter
containers=$(docker ps -q $filters)
since=$(docker info -f '{{.SystemTime}}')
for container in $containers; do
  docker kill -s HUP "$container" >/dev/null
done
reloads() { docker logs --since "$since" "$1" 2>&1 | grep '"event":"config_reload"'; }
for container in $containers; do
  waited=0
  until reloads "$container" | grep '"status":"success"' | grep -q "\"config_hash\":\"$hash\""; do
    if reloads "$container" | grep -q '"status":"rejected"'; then
      reloads "$container" | grep '"status":"rejected"' | tail -n 1 >&2
      refused "container $container rejected the new configuration (above)"
    fi
    if [ "$waited" -ge "$((BOTTLE_RELOAD_SECONDS * 10))" ]; then
      docker logs --since "$since" "$container" 2>&1 | grep -i 'reload' | tail -n 5 >&2
      refused "container $container did not confirm the new configuration within ${BOTTLE_RELOAD_SECONDS} s (its reload lines above)"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
done
echo "bot-bottle live config: $what: sha256 $hash in place; $(echo $containers | wc -w) running gate(s) reloaded it"
