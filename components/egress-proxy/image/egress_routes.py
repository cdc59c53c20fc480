"""The egress proxy's route model: the routes, how a request is decided against them, and the
decision.

Pure: no mitmproxy import. routes_yaml.py reads routes.yaml into it; egress_proxy.py (the
mitmproxy addon) applies it to flows; entrypoint.py and healthcheck.py use it too; tests
import it without a proxy.
"""

# No `from __future__ import annotations`: mitmproxy loads the addon (which imports this)
# outside sys.modules, where dataclasses cannot resolve string annotations.
import base64
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from credential_sources import Source
from egress_lanes import GitRoute
from rate_limit import RateLimiter

# The methods a route may list, and the ones it allows when it lists none. Anything else
# (TRACE, TRACK, CONNECT inside a tunnel, invented methods) is refused whatever the routes say.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The port the proxy listens on when EGRESS_PROXY_PORT does not say.
DEFAULT_LISTEN_PORT = 9099
# Refusals that audit mode lets through (and logs): what the routes do not cover. Everything
# that makes a request unsafe or ambiguous is refused in audit mode too.
AUDITABLE_REASONS = frozenset({"host not in allowlist", "port not allowed", "method not allowed", "path not allowed"})
# Addressed to this proxy, never to the next hop: the agent's Proxy-Authorization would reach
# pipelock, and Proxy-Connection is a hop-by-hop relic some clients still send.
PROXY_ONLY_HEADERS = frozenset({"proxy-authorization", "proxy-connection"})
# What a SigV4 route sets (X-Amz-Security-Token with session credentials): dropped from the
# agent's request before signing, and from every request that is not signed.
SIGV4_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})

# healthcheck.py asks for this never-routable name; the refusal proves routes are loaded.
HEALTHCHECK_HOST = "egress-proxy-healthcheck.invalid"
HEALTHCHECK_MESSAGE = f"egress-proxy: healthcheck: routes loaded, {HEALTHCHECK_HOST} refused"


@dataclass(frozen=True)
class SigV4:
    """A route whose requests are signed with AWS Signature Version 4 for this service and region."""

    service: str
    region: str


@dataclass(frozen=True)
class Auth:
    header: str  # "" on a SigV4 route
    token_env: str  # "" when the route injects a minted credential
    # The whole header value of a static token ("" for a minted one). repr=False: the
    # credential must never end up in a log line or traceback.
    value: str = field(repr=False)
    # The token's name in stack config ("" when routes.yaml does not give it).
    token: str = ""
    # Set: the header carries HTTP Basic credentials, this user name with the token.
    basic_username: str = ""
    # What goes before a minted token in the header (a static token's value has it already).
    prefix: str = ""
    # The routes.yaml `credentials` entry whose current credential the route injects ("": a static token).
    credential: str = ""
    # Set: the route signs its requests (with the credential, of kind aws) instead of setting `header`.
    sigv4: SigV4 | None = None

    def injected_headers(self) -> frozenset[str]:
        """The header names (lowercase) this route sets."""
        return SIGV4_HEADERS if self.sigv4 is not None else frozenset({self.header.lower()})


def header_value(auth: Auth, token: str) -> str:
    """What a header route sends with `token`: HTTP Basic credentials, or the token after the prefix."""
    if auth.basic_username:
        return "Basic " + base64.b64encode(f"{auth.basic_username}:{token}".encode()).decode("ascii")
    return auth.prefix + token


@dataclass(frozen=True)
class Route:
    index: int
    host: str  # normalised name, or "*.suffix"
    ports: frozenset[int]
    methods: frozenset[str]
    path_allowlist: tuple[str, ...] | None  # None: any path
    auth: Auth | None
    # Ports on which the route's credential may travel in plain HTTP (an explicit risk).
    cleartext_ports: frozenset[int] = frozenset()
    # The route's git repositories (its paths are git's for them), or None.
    git: GitRoute | None = None
    # The kinds of the route's traffic that take the bulk lane (egress_lanes.BULK_KINDS).
    bulk: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # stable, for the log
    message: str  # one line for the agent
    route: Route | None
    by: str = "egress-proxy"  # the gate that decided
    status: int = 403  # what a refusal is answered with
    audit: bool = False  # allowed only because the bottle is in audit mode


@dataclass(frozen=True)
class BulkLane:
    """How the bulk lane's requests are checked by pipelock's scan API: the headers its DLP
    reads (lowercase), and how many bytes of a text answer it scans (0: none)."""

    scan_headers: frozenset[str]
    answer_scan_bytes: int


class RouteTable:
    """Routes indexed by host so that lookup cost does not grow with the number of routes."""

    def __init__(
        self,
        routes: Iterable[Route],
        requests_per_minute: int | None = None,
        audit: bool = False,
        allow_hint: str = "",
        bulk_lane: "BulkLane | None" = None,
        passthrough: tuple[str, ...] = (),
        credentials: Mapping[str, Source] | None = None,
    ) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        # The sources of the credentials routes mint (routes.yaml's `credentials`), by name.
        self.credentials: Mapping[str, Source] = credentials or {}
        # How the bulk lane is checked; None: no route may use it.
        self.bulk_lane = bulk_lane
        # Hosts pipelock passes through: their answers come with the host's own certificate.
        self.passthrough = passthrough
        # Audit mode: what no route covers is let through (without a credential) and logged.
        self.audit = audit
        # The command a human runs to allow what no route covers, added to those refusals.
        self.allow_hint = allow_hint
        # None: no limit (routes.yaml without requests_per_minute).
        self.rate_limiter = RateLimiter(requests_per_minute) if requests_per_minute is not None else None
        self.exact: dict[str, list[Route]] = {}
        self.wildcard: dict[str, list[Route]] = {}  # "*.example.com" filed under "example.com"
        injected: set[str] = set()
        for route in self.routes:
            if route.host.startswith("*."):
                self.wildcard.setdefault(route.host[2:], []).append(route)
            else:
                self.exact.setdefault(route.host, []).append(route)
            if route.auth is not None:
                injected |= route.auth.injected_headers()
        self.injected_headers: frozenset[str] = frozenset(injected)
        # Removed from every request before the route's own header is set, as the raw header
        # fields spell them (lowercased), for a per-request check.
        self.stripped_header_bytes: frozenset[bytes] = frozenset(h.encode("ascii") for h in self.injected_headers | PROXY_ONLY_HEADERS)

    def candidates(self, host: str) -> list[Route]:
        """Routes whose host pattern matches `host` (normalised), in file order.

        One dict lookup for the exact name plus one per parent domain for wildcards.
        """
        found = list(self.exact.get(host, ()))
        from_wildcard = False
        dot = host.find(".")
        while dot != -1:
            routes = self.wildcard.get(host[dot + 1 :])
            if routes:
                found.extend(routes)
                from_wildcard = True
            dot = host.find(".", dot + 1)
        if from_wildcard:
            found.sort(key=lambda r: r.index)
        return found

    def decide_connect(self, host: str, port: int) -> Decision:
        return self._audited(self._decide_connect(host, port))

    def decide_request(self, host: str, port: int, method: str, path: str, tls: bool = True) -> Decision:
        """First route (file order) whose host, port, method and path all match, and whose
        credential, if any, travels inside TLS (`tls`: the request came over TLS). In audit mode
        a request no route covers is allowed without a credential (see _audited)."""
        decision = self._decide_request(host, port, method, path, tls)
        return decision if method not in HTTP_METHODS else self._audited(decision)

    def _audited(self, decision: Decision) -> Decision:
        if decision.allowed or decision.reason not in AUDITABLE_REASONS:
            return decision
        if self.audit:
            return Decision(True, f"audit: {decision.reason}", "", None, audit=True)
        if self.allow_hint:
            return dataclasses.replace(decision, message=f"{decision.message} (to allow it, a human runs: {self.allow_hint})")
        return decision

    def _decide_connect(self, host: str, port: int) -> Decision:
        routes = self.candidates(host)
        if not routes:
            return deny("host not in allowlist", host)
        for route in routes:
            if port in route.ports:
                return Decision(True, "allowed", "", route)
        return deny("port not allowed", str(port), host)

    def _decide_request(self, host: str, port: int, method: str, path: str, tls: bool) -> Decision:
        """The decision by the routes alone.

        `path` must already have passed check_path. On refusal the reason is the
        furthest check any candidate route got to, which is the one an agent can act on.
        """
        routes = self.candidates(host)
        if not routes:
            return deny("host not in allowlist", host)
        if method not in HTTP_METHODS:
            return deny("method not allowed", method, host)
        stage = 0
        for route in routes:
            if port not in route.ports:
                continue
            stage = max(stage, 1)
            if method not in route.methods:
                continue
            stage = max(stage, 2)
            if route.path_allowlist is not None and not path_allowed(path, route.path_allowlist):
                continue
            stage = max(stage, 3)
            if route.auth is not None and not tls and port not in route.cleartext_ports:
                continue
            return Decision(True, "allowed", "", route)
        if stage == 0:
            return deny("port not allowed", str(port), host)
        if stage == 1:
            return deny("method not allowed", method, host)
        if stage == 2:
            return deny("path not allowed", path, host)
        return deny("credentials only over TLS", f"plain HTTP to port {port} (use https://)", host)


def deny(reason: str, detail: str, host: str | None = None, status: int = 403) -> Decision:
    where = f" for {host}" if host else ""
    return Decision(False, reason, f"egress-proxy: {reason}{where}: {detail}", None, status=status)


def path_allowed(path: str, allowlist: Iterable[str]) -> bool:
    """Prefix match on segment boundaries: "/user" matches "/user" and "/user/x", not "/users"."""
    for prefix in allowlist:
        if prefix.endswith("/"):
            if path.startswith(prefix):
                return True
        elif path == prefix or path.startswith(prefix + "/"):
            return True
    return False
