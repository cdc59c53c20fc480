"""The egress proxy's route model: what routes.yaml may say and how a request is decided.

Pure: no mitmproxy import (routes.yaml is read with ruamel.yaml, which mitmproxy depends on,
imported only by parse_routes_yaml). egress_proxy.py (the mitmproxy addon) applies it to flows;
entrypoint.py and healthcheck.py use it too; tests import it without a proxy.
"""

# No `from __future__ import annotations`: mitmproxy loads the addon (which imports this)
# outside sys.modules, where dataclasses cannot resolve string annotations.
import base64
import dataclasses
import functools
import hashlib
import ipaddress
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from egress_lanes import BULK_KINDS, GitRoute
from git_rules import EVERY_REF, REF_PATTERN, PushRules

DEFAULT_PORTS = (80, 443)
# A route that injects a credential: HTTPS only, unless it lists ports itself.
DEFAULT_CREDENTIAL_PORTS = (443,)
# The methods a route may list, and the ones it allows when it lists none. Anything else
# (TRACE, TRACK, CONNECT inside a tunnel, invented methods) is refused whatever the routes say.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TOKEN_ENV_PREFIX = "EGRESS_PROXY_TOKEN_"
# Headers a route may not inject: they frame or route the message itself, or are addressed
# to a proxy (the config schema reserves the same list; a contract test compares them).
FORBIDDEN_AUTH_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "expect",
    }
)
# The port the proxy listens on when EGRESS_PROXY_PORT does not say.
DEFAULT_LISTEN_PORT = 9099
# Percent-encodings an upstream could decode into a separator, a dot, an escape or NUL;
# c0/c1 start overlong UTF-8 forms of those (%c0%af = "/") and are never valid UTF-8.
FORBIDDEN_PERCENT = frozenset({b"2f", b"5c", b"2e", b"25", b"00", b"c0", b"c1"})
# Bytes no request target may carry, query included: controls, space, DEL. An HTTP/2
# :path is written into an HTTP/1 request line as is, so CR/LF/space there split it.
TARGET_CONTROL_BYTES = bytes(range(0x21)) + b"\x7f"
# Bytes no header name or value may carry (same reason: HTTP/2 -> HTTP/1 header splitting).
HEADER_BREAK_BYTES = b"\r\n\x00"
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

ROUTE_KEYS = frozenset({"host", "ports", "methods", "path_allowlist", "git", "auth", "insecure_cleartext_ports", "bulk"})
GIT_KEYS = frozenset({"repositories", "push"})
PUSH_KEYS = frozenset({"refs", "create", "delete", "tags"})
AUTH_KEYS = frozenset({"header", "prefix", "basic_username", "token", "token_env"})
# A token's name in stack config (letters, digits, "_" and "-"): shown in logs and reviews.
TOKEN_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
TOP_KEYS = frozenset({"version", "routes", "requests_per_minute", "audit", "allow_hint", "bulk_lane", "passthrough"})
BULK_LANE_KEYS = frozenset({"scan_headers", "answer_scan_bytes"})
# `owner/name` (or `group/subgroup/name`) without .git, as the config schema accepts them.
REPOSITORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
# Refusals that audit mode lets through (and logs): what the routes do not cover. Everything
# that makes a request unsafe or ambiguous is refused in audit mode too.
AUDITABLE_REASONS = frozenset({"host not in allowlist", "port not allowed", "method not allowed", "path not allowed"})
# Buckets kept before idle (full) ones are dropped: wildcard routes let an agent name many hosts.
RATE_LIMIT_MAX_HOSTS = 4096

# Addressed to this proxy, never to the next hop: the agent's Proxy-Authorization would reach
# pipelock, and Proxy-Connection is a hop-by-hop relic some clients still send.
PROXY_ONLY_HEADERS = frozenset({"proxy-authorization", "proxy-connection"})

# healthcheck.py asks for this never-routable name; the refusal proves routes are loaded.
HEALTHCHECK_HOST = "egress-proxy-healthcheck.invalid"
HEALTHCHECK_MESSAGE = f"egress-proxy: healthcheck: routes loaded, {HEALTHCHECK_HOST} refused"

# pipelock (the next gate, in upstream mode) refuses in-band with one short text/plain line
# starting like this: 403 for its checks, 429 for its rate limit, 503 for its kill switch.
PIPELOCK_REFUSAL_PREFIXES = (b"blocked: ", b"CONNECT blocked: ", b"airlock: ", b"authority mismatch", b"kill switch active")
PIPELOCK_REFUSAL_STATUSES = frozenset({403, 429, 503})
PIPELOCK_REFUSAL_MAX_BYTES = 1024


class RoutesError(Exception):
    """A routes.yaml problem. The message names file, route and key, never a token value."""


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Auth:
    header: str
    token_env: str
    # repr=False: the credential must never end up in a log line or traceback.
    value: str = field(repr=False)
    # The token's name in stack config ("" when routes.yaml does not give it).
    token: str = ""
    # Set: the header carries HTTP Basic credentials, this user name with the token.
    basic_username: str = ""


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


class RateLimiter:
    """A token bucket per destination host: at most `per_minute` requests in any minute on
    average, in bursts of up to `per_minute`. Counts requests as the agent makes them
    (pipelock, behind it, counts a CONNECT and each request inside the tunnel)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # host -> (tokens, when)

    def take(self, host: str) -> float | None:
        """None if a request to `host` may go now (and counts it), else seconds until one may."""
        now = self.clock()
        tokens, then = self.buckets.get(host, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self.buckets[host] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if host not in self.buckets and len(self.buckets) >= RATE_LIMIT_MAX_HOSTS:
            self._drop_idle(now)
        self.buckets[host] = (tokens - 1.0, now)
        return None

    def _drop_idle(self, now: float) -> None:
        # A bucket that has refilled holds no state worth keeping.
        for host, (tokens, then) in list(self.buckets.items()):
            if tokens + (now - then) * self.rate >= self.per_minute:
                del self.buckets[host]


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
    ) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
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
                injected.add(route.auth.header.lower())
        self.injected_headers: frozenset[str] = frozenset(injected)
        # Removed from every request before the route's own header is set.
        self.stripped_headers: frozenset[str] = self.injected_headers | PROXY_ONLY_HEADERS
        # The same names as the raw header fields spell them (lowercased), for a per-request check.
        self.stripped_header_bytes: frozenset[bytes] = frozenset(h.encode("ascii") for h in self.stripped_headers)

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


def scheme_problem(scheme: str, port: int, in_tunnel: bool) -> str | None:
    """Why a request's scheme does not fit where it goes, or None: plain HTTP belongs to an
    absolute-form proxy request (never inside a CONNECT tunnel, where the agent chose a
    tunnel for TLS), and neither scheme belongs on the other's well-known port."""
    if scheme == "http" and in_tunnel:
        return "plain HTTP inside a CONNECT tunnel"
    if scheme == "http" and port == 443:
        return "plain HTTP to port 443"
    if scheme == "https" and port == 80:
        return "TLS to port 80"
    return None


def transfer_encoding_problem(values: list[str]) -> str | None:
    """Why a request's Transfer-Encoding is refused, or None: only exactly `chunked` (or
    none). Anything else is read differently by different servers (a desync seed)."""
    if not values or (len(values) == 1 and values[0].strip().lower() == "chunked"):
        return None
    return ", ".join(values)


def pipelock_refusal(status: int, content_type: str, body: bytes | None) -> Decision | None:
    """The decision to record if a response is pipelock's own refusal, else None.

    Recognised by pipelock's answer format (status, text/plain, one line with a known
    prefix): an upstream that answers exactly like pipelock is logged as pipelock, which
    is harmless, since it is a refusal either way.
    """
    if status not in PIPELOCK_REFUSAL_STATUSES or body is None or len(body) > PIPELOCK_REFUSAL_MAX_BYTES:
        return None
    if not content_type.startswith("text/plain"):
        return None
    line = body.strip()
    if b"\n" in line or not line.startswith(PIPELOCK_REFUSAL_PREFIXES):
        return None
    reason = "rate limited" if status == 429 else "refused"
    return Decision(False, reason, f"pipelock: {printable_line(line)}", None, by="pipelock", status=status)


def may_be_pipelock_refusal(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a response's head allows it to be pipelock's refusal (see pipelock_refusal):
    only those are read whole before they are passed on."""
    length = headers.get("content-length", "")
    return (
        status in PIPELOCK_REFUSAL_STATUSES
        and headers.get("content-type", "").startswith("text/plain")
        and length.isdigit()
        and int(length) <= PIPELOCK_REFUSAL_MAX_BYTES
    )


def pipelock_tunnel_refusal(host: str, port: int) -> Decision:
    """pipelock refused the CONNECT for a tunnel; mitmproxy does not pass its reason on."""
    return Decision(
        False,
        "tunnel refused",
        f"pipelock: refused the connection to {host}:{port} (not in its allowlist, an address it treats as "
        "private (SSRF), or its rate limit; pipelock's log has the reason)",
        None,
        by="pipelock",
    )


def path_allowed(path: str, allowlist: Iterable[str]) -> bool:
    """Prefix match on segment boundaries: "/user" matches "/user" and "/user/x", not "/users"."""
    for prefix in allowlist:
        if prefix.endswith("/"):
            if path.startswith(prefix):
                return True
        elif path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def check_path(raw: bytes) -> str | None:
    """Why the path part (query already removed) of a request target is refused, or None.

    Refuses anything an upstream could decode or normalise into a path other than the
    one that is matched, so that the bytes checked are the bytes forwarded.
    """
    if not raw.startswith(b"/"):
        return "not origin-form"
    if not clean_target_bytes(raw):
        return "control, space or non-ASCII byte"
    if b"\\" in raw:
        return "backslash"
    if b"#" in raw:
        return "fragment"
    if b";" in raw:
        return "semicolon"
    if b"//" in raw:
        return "empty segment"
    pct = raw.find(b"%")
    while pct != -1:
        code = raw[pct + 1 : pct + 3]
        if len(code) != 2 or not all(c in HEX_DIGITS for c in code):
            return "malformed percent-encoding"
        if code.lower() in FORBIDDEN_PERCENT:
            return "encoded separator, dot, percent or NUL"
        pct = raw.find(b"%", pct + 3)
    for segment in raw.split(b"/"):
        if segment == b"." or segment == b"..":
            return "dot segment"
    return None


def clean_target_bytes(raw: bytes) -> bool:
    """True if `raw` is printable ASCII without space (translate runs in C, not per byte)."""
    return raw.isascii() and len(raw.translate(None, TARGET_CONTROL_BYTES)) == len(raw)


def check_query(raw: bytes) -> str | None:
    """Why the query part of a request target is refused, or None. Never matched, but
    forwarded: it must not be able to end the request line or smuggle a fragment."""
    if not clean_target_bytes(raw):
        return "control, space or non-ASCII byte in the query"
    if b"#" in raw:
        return "fragment"
    return None


def header_problem(fields: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request's headers are refused, or None: CR, LF or NUL in a name or value."""
    for name, value in fields:
        for part in (name, value):
            if part.translate(None, HEADER_BREAK_BYTES) != part:
                return "CR, LF or NUL in a header"
    return None


def is_numeric_host(host: str) -> bool:
    """IP literals and the numeric forms resolvers accept (2130706433, 0x7f.1, 127.1, ::1)."""
    if host.startswith("[") or ":" in host:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    return last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:]))


def valid_dns_name(name: str) -> bool:
    """Lowercase LDH labels, at most 253 characters, not numeric."""
    if not name or len(name) > 253 or is_numeric_host(name):
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c in LDH for c in label):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def normalize_host(raw: str) -> str | None:
    """Canonical form of a client-supplied host for matching, or None if it can never match.

    Strips one trailing dot, lowercases, IDNA-encodes; IP literals and numeric forms
    are None because routes name hosts only.
    """
    host = raw[:-1] if raw.endswith(".") else raw
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if valid_dns_name(host) else None


def parse_authority(value: str) -> tuple[str, int | None] | None:
    """Split "host[:port]" as found in a Host header or :authority. None if malformed."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = value.rpartition(":")
        if not sep:
            host, port_text = value, None
        else:
            port_text = port_text_
            if ":" in host:
                return None
    if not host:
        return None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


# --------------------------------------------------------------------------- loading


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(mapping: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise RoutesError(f"{where}: unknown key {names} (allowed: {', '.join(sorted(allowed))})")


def _parse_route(index: int, raw: object, environ: Mapping[str, str]) -> Route:
    where = f"routes[{index}]"
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {_type_name(raw)}")
    _unknown_keys(raw, ROUTE_KEYS, where)

    host = raw.get("host")
    if not isinstance(host, str):
        raise RoutesError(f"{where}.host: required string, got {_type_name(host)}")
    name = host[2:] if host.startswith("*.") else host
    if not valid_dns_name(name):
        raise RoutesError(
            f"{where}.host: {host!r} is not a lowercase DNS name or '*.' + DNS name "
            "(IP literals are not supported; use the IDNA xn-- form for non-ASCII names)"
        )
    if host.startswith("*.") and "." not in name:
        raise RoutesError(f"{where}.host: {host!r} covers a whole top-level domain (a wildcard needs two labels: '*.example.com')")

    ports: frozenset[int] = frozenset(DEFAULT_CREDENTIAL_PORTS if "auth" in raw else DEFAULT_PORTS)
    if "ports" in raw:
        value = raw["ports"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.ports: must be a non-empty list of ports, got {_type_name(value)}")
        for i, port in enumerate(value):
            if not _is_int(port) or not 0 < port < 65536:
                raise RoutesError(f"{where}.ports[{i}]: must be an integer 1-65535, got {port!r}")
        ports = frozenset(value)

    methods = HTTP_METHODS
    if "methods" in raw:
        value = raw["methods"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.methods: must be a non-empty list of methods, got {_type_name(value)}")
        for i, method in enumerate(value):
            if method not in HTTP_METHODS:
                raise RoutesError(f"{where}.methods[{i}]: must be one of {', '.join(sorted(HTTP_METHODS))}, got {method!r}")
        methods = frozenset(value)

    path_allowlist: tuple[str, ...] | None = None
    if "path_allowlist" in raw:
        value = raw["path_allowlist"]
        if not isinstance(value, list) or not value:
            raise RoutesError(f"{where}.path_allowlist: must be a non-empty list of paths, got {_type_name(value)}")
        for i, prefix in enumerate(value):
            if not isinstance(prefix, str):
                raise RoutesError(f"{where}.path_allowlist[{i}]: must be a string, got {_type_name(prefix)}")
            problem = check_path(prefix.encode("utf-8"))
            if problem is None and "?" in prefix:
                problem = "query"
            if problem is not None:
                raise RoutesError(f"{where}.path_allowlist[{i}]: {prefix!r} is not an allowed path prefix ({problem})")
        path_allowlist = tuple(value)

    auth: Auth | None = None
    if "auth" in raw:
        auth = _parse_auth(f"{where}.auth", raw["auth"], environ)

    git: GitRoute | None = None
    if "git" in raw:
        git = _parse_git(f"{where}.git", raw["git"])

    bulk: frozenset[str] = frozenset()
    if "bulk" in raw:
        value = raw["bulk"]
        if not isinstance(value, list) or not value or any(kind not in BULK_KINDS for kind in value) or len(set(value)) != len(value):
            raise RoutesError(f"{where}.bulk: must be a non-empty list of {', '.join(sorted(BULK_KINDS))} without repeats, got {value!r}")
        if "git" in value and git is None:
            raise RoutesError(f"{where}.bulk: 'git' needs the route's git repositories (git)")
        bulk = frozenset(value)

    cleartext_ports: frozenset[int] = frozenset()
    if "insecure_cleartext_ports" in raw:
        value = raw["insecure_cleartext_ports"]
        if auth is None:
            raise RoutesError(f"{where}.insecure_cleartext_ports: only a route with auth has a credential to send in cleartext")
        if not isinstance(value, list) or not value or not all(_is_int(p) and p in ports for p in value):
            raise RoutesError(f"{where}.insecure_cleartext_ports: must be a non-empty list of the route's ports, got {value!r}")
        cleartext_ports = frozenset(value)

    return Route(index, host, ports, methods, path_allowlist, auth, cleartext_ports, git, bulk)


def _parse_git(where: str, raw: object) -> GitRoute:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {_type_name(raw)}")
    _unknown_keys(raw, GIT_KEYS, where)
    repositories = raw.get("repositories")
    if not isinstance(repositories, list) or not repositories:
        raise RoutesError(f"{where}.repositories: must be a non-empty list of repository paths, got {_type_name(repositories)}")
    for i, repo in enumerate(repositories):
        segments = repo.split("/") if isinstance(repo, str) else []
        if (
            len(segments) < 2
            or any(not s or s[0] in ".-" or not set(s) <= REPOSITORY_CHARS for s in segments)
            or repo.endswith(".git")
        ):
            raise RoutesError(f"{where}.repositories[{i}]: {repo!r} is not a repository path such as 'acme/app'")
    return GitRoute(tuple(repositories), _parse_push(f"{where}.push", raw.get("push", False)))


def _parse_push(where: str, raw: object) -> PushRules | None:
    """false: no push; true: every ref (EVERY_REF); a mapping: its refs and what it may do."""
    if isinstance(raw, bool):
        return EVERY_REF if raw else None
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be true, false or a mapping of refs, create, delete, tags, got {_type_name(raw)}")
    _unknown_keys(raw, PUSH_KEYS, where)
    refs = raw.get("refs")
    if not isinstance(refs, list) or not refs:
        raise RoutesError(f"{where}.refs: must be a non-empty list of ref patterns, got {_type_name(refs)}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, str) or REF_PATTERN.match(ref) is None or ".." in ref or "//" in ref or ref.endswith("/"):
            raise RoutesError(f"{where}.refs[{i}]: {ref!r} is not a ref pattern such as 'refs/heads/agent/*'")
    flags: dict[str, bool] = {}
    for key in ("create", "delete", "tags"):
        value = raw.get(key)
        if not isinstance(value, bool):
            raise RoutesError(f"{where}.{key}: must be true or false, got {value!r}")
        flags[key] = value
    return PushRules(tuple(refs), **flags)


def _parse_auth(where: str, raw: object, environ: Mapping[str, str]) -> Auth:
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping, got {_type_name(raw)}")
    _unknown_keys(raw, AUTH_KEYS, where)
    header = raw.get("header")
    if not isinstance(header, str) or not header or not all(c in TOKEN_CHARS for c in header):
        raise RoutesError(f"{where}.header: must be an HTTP header name, got {header!r}")
    if header.lower() in FORBIDDEN_AUTH_HEADERS:
        raise RoutesError(f"{where}.header: {header!r} cannot be injected")
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str) or not _header_safe(prefix):
        raise RoutesError(f"{where}.prefix: must be a string without control characters")
    username = raw.get("basic_username", "")
    if not isinstance(username, str) or not _header_safe(username) or ":" in username or " " in username:
        raise RoutesError(f"{where}.basic_username: must be a user name without spaces, ':' or control characters")
    if username and prefix:
        raise RoutesError(f"{where}.prefix: Basic credentials (basic_username) take no prefix")
    token_name = raw.get("token", "")
    if not isinstance(token_name, str) or not all(c in TOKEN_NAME_CHARS for c in token_name):
        raise RoutesError(f"{where}.token: must be a token name (letters, digits, '_' and '-'), got {token_name!r}")
    token_env = raw.get("token_env")
    if (
        not isinstance(token_env, str)
        or not token_env.startswith(TOKEN_ENV_PREFIX)
        or len(token_env) == len(TOKEN_ENV_PREFIX)
        or not all(c.isascii() and (c.isalnum() or c == "_") for c in token_env)
    ):
        raise RoutesError(
            f"{where}.token_env: must name an environment variable {TOKEN_ENV_PREFIX}<N>, got {token_env!r}"
        )
    token = environ.get(token_env)
    # Messages below name the token's variable, never its value.
    if token is None:
        raise RoutesError(f"{where}.token_env: {token_env} is not set")
    if not token:
        raise RoutesError(f"{where}.token_env: {token_env} is empty")
    if not _header_safe(token):
        raise RoutesError(f"{where}.token_env: {token_env} contains a control or non-ASCII character")
    if username:
        value = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode("ascii")
        return Auth(header, token_env, value, token_name, username)
    return Auth(header, token_env, prefix + token, token_name)


def _header_safe(value: str) -> bool:
    return all(" " <= c <= "~" for c in value)


def parse_routes(document: object, environ: Mapping[str, str]) -> RouteTable:
    if not isinstance(document, dict):
        raise RoutesError(f"top level: must be a mapping with 'version' and 'routes', got {_type_name(document)}")
    _unknown_keys(document, TOP_KEYS, "top level")
    version = document.get("version")
    if not _is_int(version) or version != 1:
        raise RoutesError(f"version: must be 1, got {version!r}")
    routes = document.get("routes")
    if not isinstance(routes, list):
        raise RoutesError(f"routes: required list, got {_type_name(routes)}")
    per_minute = document.get("requests_per_minute")
    if per_minute is not None and (not _is_int(per_minute) or per_minute < 1):
        raise RoutesError(f"requests_per_minute: must be a positive integer, got {per_minute!r}")
    audit = document.get("audit", False)
    if not isinstance(audit, bool):
        raise RoutesError(f"audit: must be true or false, got {audit!r}")
    hint = document.get("allow_hint", "")
    if not isinstance(hint, str) or not _header_safe(hint) or len(hint) > 200:
        raise RoutesError("allow_hint: must be one line of printable ASCII, at most 200 characters")
    bulk_lane = _parse_bulk_lane(document["bulk_lane"]) if "bulk_lane" in document else None
    passthrough = document.get("passthrough", [])
    if not isinstance(passthrough, list) or not all(isinstance(h, str) and valid_dns_name(h[2:] if h.startswith("*.") else h) for h in passthrough):
        raise RoutesError(f"passthrough: must be a list of host names or '*.' + host name, got {passthrough!r}")
    parsed = [_parse_route(i, r, environ) for i, r in enumerate(routes)]
    if bulk_lane is None and any(route.bulk for route in parsed):
        raise RoutesError("bulk_lane: required when a route names traffic for the bulk lane (bulk)")
    return RouteTable(parsed, per_minute, audit, hint, bulk_lane, tuple(passthrough))


def _parse_bulk_lane(raw: object) -> BulkLane:
    if not isinstance(raw, dict):
        raise RoutesError(f"bulk_lane: must be a mapping, got {_type_name(raw)}")
    _unknown_keys(raw, BULK_LANE_KEYS, "bulk_lane")
    headers = raw.get("scan_headers")
    if not isinstance(headers, list) or not all(isinstance(h, str) and h and set(h) <= TOKEN_CHARS for h in headers):
        raise RoutesError(f"bulk_lane.scan_headers: must be a list of header names, got {headers!r}")
    scan_bytes = raw.get("answer_scan_bytes")
    if not _is_int(scan_bytes) or scan_bytes < 0:
        raise RoutesError(f"bulk_lane.answer_scan_bytes: must be a number of bytes, got {scan_bytes!r}")
    return BulkLane(frozenset(h.lower() for h in headers), scan_bytes)


def load_config(routes_path: str, tokens_path: str = "", environ: Mapping[str, str] | None = None) -> tuple[RouteTable, str]:
    """Read and validate routes.yaml with its tokens: from the tokens file if one is named,
    else from `environ` (the process environment by default). Returns the table and the
    sha256 of the routes file as read (what a reload confirms). Raises RoutesError naming
    the file and the problem, never a token's value."""
    if not routes_path:
        raise RoutesError("no routes file given (set the egress_routes option / EGRESS_PROXY_ROUTES)")
    # Both files are read through links resolved now: a change swaps the link of their
    # directory (live_config.py) and must not be seen half-made.
    routes_path, tokens_path = os.path.realpath(routes_path), tokens_path and os.path.realpath(tokens_path)
    try:
        with open(routes_path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeError) as e:
        raise RoutesError(f"{routes_path}: cannot read routes file: {e}") from None
    tokens = load_tokens(tokens_path) if tokens_path else os.environ if environ is None else environ
    try:
        return parse_routes_yaml(text, tokens), hashlib.sha256(raw).hexdigest()
    except RoutesError as e:
        raise RoutesError(f"{routes_path}: {e}") from None


def parse_routes_yaml(text: str, tokens: Mapping[str, str]) -> RouteTable:
    """Validate the text of routes.yaml with its tokens. Raises RoutesError, never naming a
    token's value."""
    from ruamel.yaml import YAML  # a mitmproxy dependency on every supported version
    from ruamel.yaml.error import YAMLError

    try:
        # Safe loader: plain data only; duplicate keys are an error, not "last wins".
        document = YAML(typ="safe").load(text)
    except YAMLError as e:
        raise RoutesError(f"invalid YAML: {e}") from None
    return parse_routes(document, tokens)


def load_tokens(path: str) -> dict[str, str]:
    """The tokens file: one JSON object of token variables (EGRESS_PROXY_TOKEN_<N>) to values.
    Errors name the file and the entry, never a value."""
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, UnicodeError) as e:
        raise RoutesError(f"{path}: cannot read tokens file: {e.__class__.__name__}") from None
    except json.JSONDecodeError as e:
        # The position only: the message of a decode error can quote the text.
        raise RoutesError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}") from None
    if not isinstance(document, dict):
        raise RoutesError(f"{path}: must be a JSON object of {TOKEN_ENV_PREFIX}<N> names to values")
    for name, value in document.items():
        if not name.startswith(TOKEN_ENV_PREFIX) or not isinstance(value, str):
            raise RoutesError(f"{path}: entry {printable(name.encode()[:80])!s} must be {TOKEN_ENV_PREFIX}<N> with a string value")
    return document


# --------------------------------------------------------------------------- rendering


def printable(raw: bytes) -> str:
    """ASCII-only, one-line rendering of client bytes for logs and deny bodies."""
    return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in raw)


def printable_line(raw: bytes) -> str:
    """Like _printable, but keeps spaces: a sentence from the next gate."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


def request_query(raw_path: bytes) -> str | None:
    """The query of a request target (None when it has none), as text."""
    query = raw_path.find(b"?")
    return None if query == -1 else raw_path[query + 1 :].decode("ascii", "replace")


def log_path(raw_path: bytes) -> str:
    """The request path as the decision log shows it: without the query, printable."""
    query = raw_path.find(b"?")
    return printable(raw_path if query == -1 else raw_path[:query])
