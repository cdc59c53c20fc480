"""bot-bottle self-test probe: runs in the agent's network namespace (in a throwaway
container of the egress-proxy image, which has Python whatever the agent image is) and exits
non-zero if the bottle leaks.

Checks, from the agent's vantage point:
- no direct TCP to a public address, and none to the host through the network's gateway
  (a refused connection counts as a leak: something answered);
- the egress proxy's name resolves, and a unique external name does not, within seconds
  (the agent's DNS goes nowhere);
- a host outside the routes gets the egress proxy's own 403.

Environment: BOTTLE_PROXY_URL (http://egress-proxy:9099).
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


def reachable(host: str, port: int) -> bool:
    """True if anything answered: a completed or a refused connection."""
    with socket.socket() as sock:
        sock.settimeout(3)
        try:
            sock.connect((host, port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return True


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
    targets = list(PUBLIC_ADDRESSES)
    gateway = default_gateway()
    if gateway:
        targets.append((gateway, 9))  # the host, through the bridge; nothing listens on 9
    for host, port in targets:
        if reachable(host, port):
            leaks.append(f"direct TCP to {host}:{port} reached something")
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
