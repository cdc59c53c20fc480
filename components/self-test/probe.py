"""bot-bottle self-test probe: runs with the agent's network access (on Docker in a
throwaway container in the agent's network namespace, on Kubernetes in a Job's pod under the
agent's network policy; either way from the egress-proxy image, which has Python whatever the
agent image is) and exits non-zero if the bottle leaks.

Checks, from the agent's vantage point:
- no direct TCP to a public address, and none to the host through the network's gateway
  (a refused connection counts as a leak: something answered), nor to services known to
  listen (the Kubernetes API server, the node's kubelet);
- the egress proxy's name resolves, and a unique external name does not, within seconds
  (the agent's DNS goes nowhere);
- a host outside the routes gets the egress proxy's own 403.

Environment: BOTTLE_PROXY_URL (http://egress-proxy:9099); on Kubernetes also
BOTTLE_POLICY_REJECTS=1 (the network policy refuses denied connections, so a refusal means
closed there; what is known to listen proves the policy holds) and BOTTLE_LISTENING
("host:port ...", services that accept connections from anything the policy lets through;
the API server's KUBERNETES_SERVICE_HOST:PORT is added when set).
"""

import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PUBLIC_ADDRESSES = [("1.1.1.1", 443), ("8.8.8.8", 53)]
UNROUTED_URL = "http://bot-bottle-self-test.invalid/"
# A lookup that could leave the namespace takes many seconds to give up; one that cannot, ~2 s.
DNS_FAIL_WITHIN_SECONDS = 5.0


def default_gateway() -> str | None:
    with open("/proc/net/route") as routes:
        for line in routes.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
    return None


def reachable(host: str, port: int, refusal_answers: bool) -> bool:
    """True if anything answered: a completed connection, or a refused one when only a
    listening host can refuse (no network policy in between that rejects)."""
    with socket.socket() as sock:
        sock.settimeout(3)
        try:
            sock.connect((host, port))
        except ConnectionRefusedError:
            return refusal_answers
        except OSError:
            return False
    return True


def listening_targets(environ: dict[str, str]) -> list[tuple[str, int]]:
    """Services known to accept connections, from BOTTLE_LISTENING and the API server's
    variables. A malformed entry raises ValueError: the probe then fails (fail closed)."""
    entries = environ.get("BOTTLE_LISTENING", "").split()
    if environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT"):
        entries.append(f"{environ['KUBERNETES_SERVICE_HOST']}:{environ['KUBERNETES_SERVICE_PORT']}")
    targets = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"BOTTLE_LISTENING entry {entry!r} is not host:port")
        targets.append((host, int(port)))
    return targets


def dns_leaks(proxy_host: str) -> list[str]:
    """What is wrong with name resolution: the proxy must resolve, nothing else."""
    problems = []
    try:
        socket.getaddrinfo(proxy_host, None)
    except OSError as e:
        problems.append(f"the egress proxy's name {proxy_host} does not resolve: {e}")
    name = f"bot-bottle-self-test-{secrets.token_hex(6)}.example.com"
    started = time.monotonic()
    try:
        socket.getaddrinfo(name, 443)
        problems.append(f"the external name {name} resolved")
    except OSError:
        elapsed = time.monotonic() - started
        if elapsed > DNS_FAIL_WITHIN_SECONDS:
            problems.append(f"looking up {name} took {elapsed:.1f} s to fail: the query went looking for a resolver")
    return problems


def main() -> int:
    leaks = []
    refusal_answers = os.environ.get("BOTTLE_POLICY_REJECTS") != "1"
    targets = list(PUBLIC_ADDRESSES)
    gateway = default_gateway()
    if gateway:
        targets.append((gateway, 9))  # the host, through the bridge; nothing listens on 9
    listening = listening_targets(dict(os.environ))
    for host, port in targets:
        if reachable(host, port, refusal_answers):
            leaks.append(f"direct TCP to {host}:{port} reached something")
    for host, port in listening:
        if reachable(host, port, refusal_answers=False):
            leaks.append(f"direct TCP to {host}:{port}, which listens, connected")
    targets += listening
    leaks += dns_leaks(urllib.parse.urlsplit(os.environ["BOTTLE_PROXY_URL"]).hostname or "egress-proxy")

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": os.environ["BOTTLE_PROXY_URL"]}))
    try:
        opener.open(UNROUTED_URL, timeout=15)
        leaks.append(f"{UNROUTED_URL} was not refused by the egress proxy")
    except urllib.error.HTTPError as e:
        body = e.read().decode("ascii", "replace")
        if e.code != 403 or not body.startswith("egress-proxy: host not in allowlist"):
            leaks.append(f"{UNROUTED_URL}: expected the egress proxy's 403, got {e.code} {body.strip()[:120]!r}")
    except OSError as e:
        leaks.append(f"the egress proxy did not answer at {os.environ['BOTTLE_PROXY_URL']}: {e}")

    for leak in leaks:
        print(f"bot-bottle self-test: FAIL: {leak}", file=sys.stderr)
    if not leaks:
        print(f"bot-bottle self-test: ok ({len(targets)} direct routes closed, no external DNS, unrouted host refused)")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
