"""egress-proxy: the bottle's first gate, as a mitmproxy addon.

Allows exactly the routes declared in routes.yaml (host, port, method, path),
injects each route's credential, answers everything else 403 text/plain, and
writes one JSON decision line per CONNECT and per request to stdout.

Fail closed everywhere: the routes are loaded once at start and any problem stops
the process; until they are loaded every flow is refused; an exception in any hook
refuses the flow instead of letting mitmproxy carry on with it.

    mitmdump -s egress_proxy.py --set egress_routes=/path/to/routes.yaml
"""

# No `from __future__ import annotations`: mitmproxy loads scripts outside sys.modules,
# where dataclasses cannot resolve string annotations.
import asyncio
import functools
import ipaddress
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mitmproxy import ctx, http, tls
from OpenSSL import SSL
from mitmproxy.proxy import mode_specs, server_hooks

logger = logging.getLogger(__name__)

DEFAULT_PORTS = (80, 443)
# A route that injects a credential: HTTPS only, unless it lists ports itself.
DEFAULT_CREDENTIAL_PORTS = (443,)
# The methods a route may list, and the ones it allows when it lists none. Anything else
# (TRACE, TRACK, CONNECT inside a tunnel, invented methods) is refused whatever the routes say.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TOKEN_ENV_PREFIX = "EGRESS_PROXY_TOKEN_"
# Headers a route may not inject: they frame or route the message itself.
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
        "proxy-connection",
        "expect",
    }
)
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

ROUTE_KEYS = frozenset({"host", "ports", "methods", "path_allowlist", "auth", "insecure_cleartext_ports"})
AUTH_KEYS = frozenset({"header", "prefix", "token_env"})
TOP_KEYS = frozenset({"version", "routes", "requests_per_minute"})
# Buckets kept before idle (full) ones are dropped: wildcard routes let an agent name many hosts.
RATE_LIMIT_MAX_HOSTS = 4096

# Addressed to this proxy, never to the next hop: the agent's Proxy-Authorization would reach
# pipelock, and Proxy-Connection is a hop-by-hop relic some clients still send.
PROXY_ONLY_HEADERS = frozenset({"proxy-authorization", "proxy-connection"})

METADATA_KEY = "egress_proxy"
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


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # stable, for the log
    message: str  # one line for the agent
    route: Route | None
    by: str = "egress-proxy"  # the gate that decided
    status: int = 403  # what a refusal is answered with


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

    def __init__(self, routes: Iterable[Route], requests_per_minute: int | None = None) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
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
        routes = self.candidates(host)
        if not routes:
            return _deny("host not in allowlist", host)
        for route in routes:
            if port in route.ports:
                return Decision(True, "allowed", "", route)
        return _deny("port not allowed", str(port), host)

    def decide_request(self, host: str, port: int, method: str, path: str, tls: bool = True) -> Decision:
        """First route (file order) whose host, port, method and path all match, and whose
        credential, if any, travels inside TLS (`tls`: the request came over TLS).

        `path` must already have passed check_path. On refusal the reason is the
        furthest check any candidate route got to, which is the one an agent can act on.
        """
        routes = self.candidates(host)
        if not routes:
            return _deny("host not in allowlist", host)
        if method not in HTTP_METHODS:
            return _deny("method not allowed", method, host)
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
            return _deny("port not allowed", str(port), host)
        if stage == 1:
            return _deny("method not allowed", method, host)
        if stage == 2:
            return _deny("path not allowed", path, host)
        return _deny("credentials only over TLS", f"plain HTTP to port {port} (use https://)", host)


def _deny(reason: str, detail: str, host: str | None = None, status: int = 403) -> Decision:
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
    return Decision(False, reason, f"pipelock: {_printable_line(line)}", None, by="pipelock", status=status)


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

    cleartext_ports: frozenset[int] = frozenset()
    if "insecure_cleartext_ports" in raw:
        value = raw["insecure_cleartext_ports"]
        if auth is None:
            raise RoutesError(f"{where}.insecure_cleartext_ports: only a route with auth has a credential to send in cleartext")
        if not isinstance(value, list) or not value or not all(_is_int(p) and p in ports for p in value):
            raise RoutesError(f"{where}.insecure_cleartext_ports: must be a non-empty list of the route's ports, got {value!r}")
        cleartext_ports = frozenset(value)

    return Route(index, host, ports, methods, path_allowlist, auth, cleartext_ports)


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
    # Messages below name the variable, never its value.
    if token is None:
        raise RoutesError(f"{where}.token_env: environment variable {token_env} is not set")
    if not token:
        raise RoutesError(f"{where}.token_env: environment variable {token_env} is empty")
    if not _header_safe(token):
        raise RoutesError(
            f"{where}.token_env: environment variable {token_env} contains a control or non-ASCII character"
        )
    return Auth(header, token_env, prefix + token)


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
    return RouteTable((_parse_route(i, r, environ) for i, r in enumerate(routes)), per_minute)


def load_routes(path: str, environ: Mapping[str, str] | None = None) -> RouteTable:
    """Read and validate routes.yaml. Raises RoutesError naming the file and the problem."""
    from ruamel.yaml import YAML  # a mitmproxy dependency on every supported version
    from ruamel.yaml.error import YAMLError

    if not path:
        raise RoutesError("no routes file given (set the egress_routes option / EGRESS_PROXY_ROUTES)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeError) as e:
        raise RoutesError(f"{path}: cannot read routes file: {e}") from None
    try:
        # Safe loader: plain data only; duplicate keys are an error, not "last wins".
        document = YAML(typ="safe").load(text)
    except YAMLError as e:
        raise RoutesError(f"{path}: invalid YAML: {e}") from None
    try:
        return parse_routes(document, os.environ if environ is None else environ)
    except RoutesError as e:
        raise RoutesError(f"{path}: {e}") from None


# --------------------------------------------------------------------------- addon

F = TypeVar("F", bound=Callable[..., None])


def _printable(raw: bytes) -> str:
    """ASCII-only, one-line rendering of client bytes for logs and deny bodies."""
    return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in raw)


def _printable_line(raw: bytes) -> str:
    """Like _printable, but keeps spaces: a sentence from the next gate."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


def _fail_closed_http(hook: F) -> F:
    """Turn any exception in an HTTP hook into a refusal: mitmproxy itself would log and forward."""

    @functools.wraps(hook)
    def wrapper(self: "EgressProxy", flow: http.HTTPFlow) -> None:
        try:
            hook(self, flow)
        except Exception as e:  # noqa: BLE001 - the point is to catch everything
            self._internal_error(flow, hook.__name__, e)

    return wrapper  # type: ignore[return-value]


def _unsafe_option(updated: set[str]) -> str | None:
    """Why a mitmproxy option set this way would leak a credential or bypass the gate."""
    opts = ctx.options

    def value(name: str) -> Any:
        return getattr(opts, name, None) if name in updated else None

    if (value("flow_detail") or 0) >= 2:
        return "flow_detail >= 2 would print injected credentials; use 0 or 1"
    if value("save_stream_file"):
        return "save_stream_file would write injected credentials to disk; unset it"
    for name in ("ignore_hosts", "allow_hosts", "tcp_hosts", "udp_hosts"):
        if value(name):
            return f"{name} would let traffic skip the gate's checks; leave it empty"
    if value("validate_inbound_headers") is False:
        return "validate_inbound_headers must stay on (request smuggling)"
    if value("stream_large_bodies"):
        return "stream_large_bodies would send bodies (and trailers) upstream before the request hook; unset it"
    return None


class EgressProxy:
    def __init__(self) -> None:
        self.table: RouteTable | None = None
        # The next gate's address in upstream mode: the one connection that is not a route.
        self.upstream_proxies: frozenset[tuple[str, int]] = frozenset()
        # Client connections that opened a CONNECT tunnel: what they send next is tunnelled.
        self.tunnels: set[str] = set()

    # ---- lifecycle

    def load(self, loader: Any) -> None:
        loader.add_option("egress_routes", str, "", "Path of routes.yaml (version 1). Required.")

    def configure(self, updated: set[str]) -> None:
        unsafe = _unsafe_option(updated)
        if unsafe is not None:
            self.table = None
            self._refuse_to_run(unsafe)
            return
        if "mode" in updated:
            self.upstream_proxies = frozenset(
                spec.address
                for spec in (mode_specs.ProxyMode.parse(m) for m in ctx.options.mode)
                if isinstance(spec, mode_specs.UpstreamMode)
            )
        if "egress_routes" not in updated:
            return
        self.table = None  # refuse everything until the new routes are in place
        try:
            table = load_routes(ctx.options.egress_routes)
        except RoutesError as e:
            self._refuse_to_run(str(e))
            return
        except Exception as e:  # noqa: BLE001
            self._refuse_to_run(f"unexpected error loading routes: {type(e).__name__}")
            return
        self.table = table
        logger.info(f"egress-proxy: {len(table.routes)} routes loaded from {ctx.options.egress_routes}")

    def _refuse_to_run(self, problem: str) -> None:
        # An error logged during startup makes mitmdump exit 1 before serving (errorcheck);
        # the scheduled exit covers a reload after startup. Until then table is None: deny all.
        logger.error(f"egress-proxy: refusing to start: {problem}")
        try:
            asyncio.get_running_loop().call_soon(_exit_failed)
        except RuntimeError:
            pass  # no loop (unit tests): the caller sees table is None

    def done(self) -> None:
        # Also called when mitmproxy unloads this script while running (a hot reload after
        # the file changed). Until a new copy loads, and forever if it fails to, nothing would
        # gate traffic: stop at once, before another flow is handled.
        try:
            stopping = ctx.master.should_exit.is_set()
        except Exception:  # noqa: BLE001
            stopping = False
        if not stopping:
            sys.stderr.write("egress-proxy: addon unloaded while the proxy is running; stopping\n")
            sys.stderr.flush()
            _hard_exit()

    # ---- CONNECT

    def http_connect(self, flow: http.HTTPFlow) -> None:
        try:
            self._http_connect(flow)
        except Exception as e:  # noqa: BLE001
            self._internal_error(flow, "http_connect", e)

    def _http_connect(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        host = normalize_host(req.host)
        if self.table is None:
            decision = _deny("routes not loaded", "refusing all traffic")
        elif host is None:
            shown = _printable(req.host.encode("utf-8", "surrogateescape"))
            decision = _deny("host not allowed (IP literal or invalid name)", shown)
        else:
            decision = self.table.decide_connect(host, req.port)
        self._log(decision, host or req.host, req.port, "CONNECT", None)
        if not decision.allowed:
            self._refuse(flow, decision)
            return
        # Connect to exactly the name that was checked.
        assert host is not None
        req.host = host
        flow.metadata[METADATA_KEY] = "tunnel"
        self.tunnels.add(flow.client_conn.id)

    def client_disconnected(self, client: Any) -> None:
        self.tunnels.discard(client.id)

    # ---- every outgoing connection

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        # Backstop below the request hooks: whatever path led here, never open a TCP
        # connection to anything but a route's host:port (or the upstream proxy).
        try:
            address = data.server.address
            if address is not None and address in self.upstream_proxies:
                return
            if address is not None and self.table is not None:
                host = normalize_host(address[0])
                if host is not None and self.table.decide_connect(host, address[1]).allowed:
                    return
            data.server.error = f"egress-proxy: connection to {address} not allowed"
        except Exception as e:  # noqa: BLE001
            data.server.error = f"egress-proxy: internal error ({type(e).__name__})"
        logger.error(data.server.error)

    # ---- TLS inside an allowed tunnel

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        try:
            data.ignore_connection = False  # never pass a tunnel through unchecked
            server = data.context.server
            if server.address is not None:
                # The upstream SNI is the CONNECT target, never what the client sent.
                server.sni = server.address[0]
        except Exception as e:  # noqa: BLE001
            logger.error(f"egress-proxy: tls_clienthello failed ({type(e).__name__}); upstream TLS will be refused")

    def tls_start_client(self, data: tls.TlsData) -> None:
        # TLS from the agent is only expected inside a CONNECT tunnel (the target is known).
        # TLS straight to the proxy port would be HTTPS-to-the-proxy, where HTTP/2 requests
        # get rewritten to HTTP/1 for the next hop: refuse it by providing no TLS context.
        try:
            if data.context.server.address is None:
                logger.error("egress-proxy: TLS straight to the proxy refused; use http:// as the proxy URL")
                data.ssl_conn = _refusing_tls()
        except Exception as e:  # noqa: BLE001
            logger.error(f"egress-proxy: tls_start_client failed ({type(e).__name__}); closing the connection")
            data.ssl_conn = _refusing_tls()

    def tls_start_server(self, data: tls.TlsData) -> None:
        # Runs before mitmproxy builds the upstream TLS connection: if the SNI it would send
        # is not the target, hand it a connection that cannot handshake, so it closes.
        try:
            server = data.context.server
            if data.conn is server and server.address is not None and server.sni != server.address[0]:
                logger.error("egress-proxy: upstream SNI differs from the target; closing the connection")
                data.ssl_conn = _refusing_tls()
        except Exception as e:  # noqa: BLE001
            logger.error(f"egress-proxy: tls_start_server failed ({type(e).__name__}); closing the connection")
            data.ssl_conn = _refusing_tls()

    # ---- requests

    @_fail_closed_http
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        decision, host, path = self._decide(flow)
        req = flow.request
        limiter = self.table.rate_limiter if self.table is not None else None
        wait = limiter.take(host) if decision.allowed and limiter is not None else None
        if wait is not None:
            assert limiter is not None
            decision = _deny("rate limited", f"at most {limiter.per_minute} requests per minute", host, status=429)
        self._log(decision, host, req.port, req.method, path)
        if not decision.allowed:
            self._refuse(flow, decision, headers={"Retry-After": str(math.ceil(wait))} if wait is not None else None)
            return
        if self.upstream_proxies and _tunnel_refused_upstream(flow):
            # The next gate refused this tunnel while the agent's TLS handshake was under way.
            refusal = pipelock_tunnel_refusal(host, req.port)
            self._log(refusal, host, req.port, req.method, path)
            self._refuse(flow, refusal, headers={"Connection": "close"})
            return
        flow.metadata[METADATA_KEY] = decision
        # Connect to the checked name; also rewrites Host/:authority to its canonical form.
        req.host = host
        self._inject(flow, decision)

    @_fail_closed_http
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return  # refused in requestheaders
        decision = flow.metadata.get(METADATA_KEY)
        if not isinstance(decision, Decision) or not decision.allowed:
            raise RuntimeError("request without an allow decision")
        # Again: an addon or a body may have changed headers since requestheaders.
        self._inject(flow, decision)

    @_fail_closed_http
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if not isinstance(flow.metadata.get(METADATA_KEY), Decision):
            # A response to a request this addon never decided on.
            flow.kill()
            return
        resp = flow.response
        # Stream responses through: a streamed LLM answer (SSE) must reach the agent as it
        # comes, and no download may have to fit in memory. Only a short answer that may be the
        # next gate's refusal is read whole, for `response` to map it.
        if resp is not None and not (self.upstream_proxies and may_be_pipelock_refusal(resp.status_code, resp.headers)):
            resp.stream = True

    @_fail_closed_http
    def response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        if not self.upstream_proxies or resp is None:
            return
        refusal = pipelock_refusal(resp.status_code, resp.headers.get("content-type", ""), resp.raw_content)
        if refusal is not None:
            req = flow.request
            self._log(refusal, req.host, req.port, req.method, _log_path(req.data.path))
            self._refuse(flow, refusal)

    @_fail_closed_http
    def error(self, flow: http.HTTPFlow) -> None:
        # Refusals mitmproxy answers itself, after the request hooks: the log records them.
        # A tunnel pipelock refused when mitmproxy (re)connected for a request (the agent gets
        # mitmproxy's 502 page), and a body over body_size_limit (413).
        if flow.error is None:
            return
        req = flow.request
        if "refused HTTP CONNECT request" in flow.error.msg:
            refusal = pipelock_tunnel_refusal(req.host, req.port)
        elif "Request body exceeds" in flow.error.msg:
            limit = getattr(ctx.options, "body_size_limit", "")
            refusal = _deny("request body too large", f"at most {limit} bytes", req.host, status=413)
        else:
            return
        self._log(refusal, req.host, req.port, req.method, _log_path(req.data.path))

    @_fail_closed_http
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        decision = flow.metadata.get(METADATA_KEY)
        if not isinstance(decision, Decision) or not decision.allowed:
            flow.kill()

    def _decide(self, flow: http.HTTPFlow) -> tuple[Decision, str, str]:
        """The decision for one request, the host and the query-less path for the log."""
        req = flow.request
        raw_path = req.data.path
        query = raw_path.find(b"?")
        path_bytes = raw_path if query == -1 else raw_path[:query]
        path = _log_path(raw_path)
        host = normalize_host(req.host)
        shown = host or _printable(req.host.encode("utf-8", "surrogateescape"))
        if self.table is None:
            return _deny("routes not loaded", "refusing all traffic"), shown, path
        if host is None:
            return _deny("host not allowed (IP literal or invalid name)", shown), shown, path
        if host == HEALTHCHECK_HOST:
            return Decision(False, "healthcheck", HEALTHCHECK_MESSAGE, None), host, path
        mismatch = self._target_mismatch(flow, host)
        if mismatch is not None:
            return _deny(mismatch, f"{host}:{req.port}"), host, path
        problem = check_path(path_bytes)
        if problem is None and query != -1:
            problem = check_query(raw_path[query + 1 :])
        if problem is not None:
            return _deny(f"path rejected ({problem})", path), host, path
        problem = header_problem(req.headers.fields)
        if problem is not None:
            return _deny(f"headers rejected ({problem})", path, host), host, path
        encoding = transfer_encoding_problem(req.headers.get_all("transfer-encoding"))
        if encoding is not None:
            return _deny("Transfer-Encoding other than chunked", encoding, host, status=400), host, path
        problem = scheme_problem(req.scheme, req.port, flow.client_conn.id in self.tunnels)
        if problem is not None:
            return _deny(problem, f"{host}:{req.port}"), host, path
        return self.table.decide_request(host, req.port, req.method, path, tls=req.scheme == "https"), host, path

    @staticmethod
    def _target_mismatch(flow: http.HTTPFlow, host: str) -> str | None:
        """Host header, :authority and client SNI must all name the target (no fronting)."""
        req = flow.request
        default_port = 443 if req.scheme == "https" else 80
        values: list[str] = []
        if req.data.authority:
            try:
                values.append(req.data.authority.decode("ascii"))
            except UnicodeDecodeError:
                return "request authority does not match the target"
        values.extend(req.headers.get_all("host"))
        if not values:
            return "missing Host header"
        for value in values:
            parsed = parse_authority(value)
            if parsed is None or normalize_host(parsed[0]) != host or (parsed[1] or default_port) != req.port:
                return "Host header or :authority does not match the target"
        sni = flow.client_conn.sni
        if flow.client_conn.tls and sni is not None and normalize_host(sni) != host:
            return "TLS SNI does not match the target"
        return None

    def _inject(self, flow: http.HTTPFlow, decision: Decision) -> None:
        assert self.table is not None
        headers = flow.request.headers
        # Only the route's own injection may carry these names: the next gate does not scan them.
        for name in {k.lower() for k in headers.keys()} & self.table.stripped_headers:
            del headers[name]
        flow.request.trailers = None
        auth = decision.route.auth if decision.route is not None else None
        if auth is not None:
            headers[auth.header] = auth.value

    # ---- helpers

    @staticmethod
    def _refuse(flow: http.HTTPFlow, decision: Decision, headers: Mapping[str, str] | None = None) -> None:
        flow.metadata[METADATA_KEY] = decision
        if decision.status == 400:
            headers = {**(headers or {}), "Connection": "close"}  # the request's framing is in doubt
        flow.response = http.Response.make(
            decision.status,
            (decision.message + "\n").encode("ascii", "backslashreplace"),
            {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
        )

    def _internal_error(self, flow: http.HTTPFlow, hook: str, error: Exception) -> None:
        # Only the exception type: a message could quote header values.
        decision = _deny("internal error", f"request refused ({hook}: {type(error).__name__})", status=500)
        try:
            req = flow.request
            self._log(decision, req.host, req.port, req.method, None)
        except Exception:  # noqa: BLE001
            pass
        try:
            if hook in ("responseheaders", "websocket_start"):
                flow.kill()
            else:
                self._refuse(flow, decision)
        except Exception:  # noqa: BLE001
            flow.kill()

    @staticmethod
    def _log(decision: Decision, host: str, port: int, method: str, path: str | None) -> None:
        line = json.dumps(
            {
                "decision": "allow" if decision.allowed else "deny",
                "by": decision.by,
                "reason": decision.reason,
                "route": decision.route.index if decision.route is not None else None,
                "host": host,
                "port": port,
                "method": method,
                "path": path,
            },
            ensure_ascii=True,
        )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    # ---- non-HTTP traffic is never relayed

    def tcp_start(self, flow: Any) -> None:
        flow.kill()

    def udp_start(self, flow: Any) -> None:
        flow.kill()


def _log_path(raw_path: bytes) -> str:
    """The request path as the decision log shows it: without the query, printable."""
    query = raw_path.find(b"?")
    return _printable(raw_path if query == -1 else raw_path[:query])


def _tunnel_refused_upstream(flow: http.HTTPFlow) -> bool:
    """True if mitmproxy already tried to open this tunnel's upstream connection (it does so
    during the agent's TLS handshake) and the upstream proxy refused the CONNECT: the tunnel
    layer closes the server connection it had started, without a TLS setup or an error of
    its own (a TCP or TLS failure would leave one of those)."""
    server = flow.server_conn
    return (
        flow.request.scheme == "https"
        and server.timestamp_start is not None
        and server.timestamp_tls_setup is None
        and server.error is None
        and not server.connected
    )


def _refusing_tls() -> SSL.Connection:
    """A TLS connection whose handshake cannot start (no client or server role is set), so
    mitmproxy closes the connection. Returning no connection does not refuse: mitmproxy's
    own TLS addon runs after this one and fills in a working one."""
    return SSL.Connection(SSL.Context(SSL.TLS_METHOD))


def _exit_failed() -> None:
    sys.exit(1)


def _hard_exit() -> None:
    sys.stdout.flush()
    os._exit(1)


addons = [EgressProxy()]
