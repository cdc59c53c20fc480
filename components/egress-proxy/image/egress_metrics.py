"""The egress proxy's Prometheus metrics: what it decided (one count per decision line), the
credentials it injected (by token name), its own time per request, the chain's time, body
sizes, and its reloads; and the listener that serves them at /metrics, on the egress side only.

Every label has a bounded set of values (no paths, no free text, no token values): a reason
the proxy does not list, a method outside HTTP's usual ones, a host no route declares, each
count under one catch-all value. No mitmproxy import: the addon passes plain values in.
"""

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from egress_routes import AUDITABLE_REASONS, HTTP_METHODS, Decision, Route, RouteTable

OTHER = "other"
NO_ROUTE = "(no route)"
METHODS = HTTP_METHODS | {"CONNECT"}
GATES = frozenset({"egress-proxy", "pipelock", "pipelock-bulk"})
# The stable reasons of the decision lines (egress_routes.py, request_checks.py, egress_proxy.py,
# pipelock_refusals.py), each its own label value.
REASONS = frozenset(
    {
        "allowed",
        *AUDITABLE_REASONS,
        *(f"audit: {reason}" for reason in AUDITABLE_REASONS),
        "credentials only over TLS",
        "routes not loaded",
        "healthcheck",
        "host not allowed (IP literal or invalid name)",
        "missing Host header",
        "request authority does not match the target",
        "Host header or :authority does not match the target",
        "TLS SNI does not match the target",
        "Transfer-Encoding other than chunked",
        "plain HTTP inside a CONNECT tunnel",
        "plain HTTP to port 443",
        "TLS to port 80",
        "rate limited",
        "not git's protocol",
        "push outside the route's refs",
        "request body too large",
        "bulk lane check failed",
        "internal error",
        "credential not available",
        "presigned request on a SigV4 route",
        # pipelock's refusals (pipelock_refusals.py): by the cause its words name ("other" otherwise).
        "allowlist",
        "ssrf",
        "dns",
        "rate limit",
        "dlp",
        "body size",
        "kill switch",
        "tunnel dial failed",
    }
)
# Reasons that carry a detail after a stable beginning: counted under the beginning.
REASON_PREFIXES = (
    ("path rejected (", "path rejected"),
    ("headers rejected (", "headers rejected"),
    ("answer scan: ", "answer scan"),
    ("answer not scanned: ", "answer not scanned"),
)

# The addon's own time per request: microseconds usually, seconds when it waits for pipelock's scan API.
HOOK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CHAIN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BODY_BUCKETS = tuple(float(4**n) for n in range(4, 16))  # 256 B to 256 MiB


def reason_label(reason: str) -> str:
    """A decision's reason as a label: itself if the proxy lists it, its stable beginning if it
    carries a detail, else "other"."""
    if reason in REASONS:
        return reason
    for prefix, label in REASON_PREFIXES:
        if reason.startswith(prefix):
            return label
    return OTHER


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def gate_label(by: str) -> str:
    return by if by in GATES else OTHER


def host_label(host: str, route: Route | None, table: RouteTable | None) -> str:
    """The host as a route declares it (`*.example.com` for a wildcard's subdomain): the deciding
    route's, else the first route whose host matches; "(no route)" when none does."""
    if route is not None:
        return route.host
    candidates = table.candidates(host) if table is not None else ()
    return candidates[0].host if candidates else NO_ROUTE


def lane_label(bulk: bool) -> str:
    return "bulk" if bulk else "inspect"


def token_label(route: Route) -> str | None:
    """The name of the token a route injects (its variable's when routes.yaml gives no name), or
    None when it injects none."""
    auth = route.auth
    return None if auth is None else auth.token or auth.token_env


class FlowMeter:
    """What one request's metrics need until its last hook: the addon's time in its hooks, and,
    once it left for the upstream, when, by which lane, and how many answer bytes streamed."""

    __slots__ = ("hook_seconds", "lane", "request_bytes", "sent_at", "streamed_bytes")

    def __init__(self) -> None:
        self.hook_seconds = 0.0
        self.sent_at: float | None = None
        self.lane: str | None = None
        self.request_bytes = 0
        self.streamed_bytes = 0

    def counting(self, stream: Callable[[bytes], Any] | bool) -> Callable[[bytes], Any]:
        """A response stream (mitmproxy's `stream`: True or a function of each chunk) that also
        counts the bytes passing."""

        def counted(chunk: bytes) -> Any:
            self.streamed_bytes += len(chunk)
            return stream(chunk) if callable(stream) else chunk

        return counted


class EgressMetrics:
    """The registry and its metrics, one per addon."""

    METER_KEY = "egress_proxy_meter"

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "bot_bottle_egress_requests",
            "Decision lines the egress proxy wrote (CONNECT and requests).",
            ("decision", "gate", "reason", "host", "method"),
            registry=r,
        )
        self.credentials = Counter(
            "bot_bottle_egress_credentials_injected", "Requests sent with a route's credential, by token name.", ("token",), registry=r
        )
        self.hook_seconds = Histogram(
            "bot_bottle_egress_hook_seconds", "The egress proxy's own time per request, in its hooks.", buckets=HOOK_BUCKETS, registry=r
        )
        self.chain_seconds = Histogram(
            "bot_bottle_egress_chain_seconds",
            "From a request leaving the egress proxy to its answer's headers (through pipelock and the upstream).",
            ("lane",),
            buckets=CHAIN_BUCKETS,
            registry=r,
        )
        self.request_bytes = Histogram(
            "bot_bottle_egress_request_body_bytes", "Body sizes of requests sent upstream.", ("lane",), buckets=BODY_BUCKETS, registry=r
        )
        self.response_bytes = Histogram(
            "bot_bottle_egress_response_body_bytes", "Body sizes of their answers.", ("lane",), buckets=BODY_BUCKETS, registry=r
        )
        self.reloads = Counter("bot_bottle_egress_reloads", "Reloads of routes and tokens (SIGHUP), by result.", ("result",), registry=r)
        self.config = Gauge("bot_bottle_egress_config_info", "The sha256 of the routes document in use.", ("sha256",), registry=r)
        for result in ("ok", "rejected"):
            self.reloads.labels(result)
        self.mints = Counter(
            "bot_bottle_egress_credential_mints",
            "Mints and refreshes of short-lived credentials, by credential name, kind and outcome (ok, error).",
            ("credential", "kind", "outcome"),
            registry=r,
        )
        self.expiry = Gauge(
            "bot_bottle_egress_credential_expiry_seconds",
            "Seconds until the credential in use expires (negative: expired; no series: it does not expire).",
            ("credential",),
            registry=r,
        )
        # The credentials with an expiry series (changed from the refreshers' threads too).
        self.expiring: set[str] = set()
        self.expiring_lock = threading.Lock()

    def decided(self, decision: Decision, name: str, host: str, method: str, table: RouteTable | None) -> None:
        """One decision line (`name`: allow, deny, audit-allow or warn, as the line has it)."""
        labels = (
            name,
            gate_label(decision.by),
            reason_label(decision.reason),
            host_label(host, decision.route, table),
            method_label(method),
        )
        self.requests.labels(*labels).inc()

    def loaded(self, config_hash: str) -> None:
        """The routes document now in use."""
        self.config.clear()
        self.config.labels(config_hash).set(1)

    def reloaded(self, config_hash: str | None) -> None:
        """A reload's outcome: the new document's hash, or None when it was rejected."""
        self.reloads.labels("rejected" if config_hash is None else "ok").inc()
        if config_hash is not None:
            self.loaded(config_hash)

    def minted(self, name: str, kind: str, expires_at: float | None) -> None:
        """A mint or refresh that worked; `expires_at`: the new credential's (None: it does not expire)."""
        self.mints.labels(name, kind, "ok").inc()
        if expires_at is None:
            with self.expiring_lock:
                self._forget_expiry(name)
            return
        with self.expiring_lock:
            self.expiry.labels(name).set_function(lambda: expires_at - time.time())
            self.expiring.add(name)

    def mint_failed(self, name: str, kind: str) -> None:
        self.mints.labels(name, kind, "error").inc()

    def credentials_in_use(self, names: Iterable[str]) -> None:
        """After a reload: no expiry series for the credentials the routes no longer have."""
        with self.expiring_lock:
            for name in self.expiring - set(names):
                self._forget_expiry(name)

    def _forget_expiry(self, name: str) -> None:
        """(With expiring_lock held.)"""
        if name in self.expiring:
            self.expiring.discard(name)
            self.expiry.remove(name)

    def meter(self, metadata: MutableMapping[str, Any]) -> FlowMeter:
        meter = metadata.get(self.METER_KEY)
        if meter is None:
            meter = metadata[self.METER_KEY] = FlowMeter()
        return meter

    def forwarded(self, metadata: MutableMapping[str, Any], route: Route | None, bulk: bool, body_bytes: int) -> None:
        """A request leaves for the upstream now, with its route's credential if it has one."""
        token = token_label(route) if route is not None else None
        if token is not None:
            self.credentials.labels(token).inc()
        meter = self.meter(metadata)
        meter.sent_at = time.time()
        meter.lane = lane_label(bulk)
        meter.request_bytes = body_bytes

    def finished(self, metadata: MutableMapping[str, Any], answered_at: float | None, held_bytes: int | None) -> None:
        """A request's last hook ran: its hook time, and for one that went upstream its chain time
        (until `answered_at`, the answer's headers; None: no answer) and body sizes (the answer's:
        `held_bytes` if it was held whole, else what streamed). Once per request."""
        meter = metadata.pop(self.METER_KEY, None)
        if meter is None:
            return
        self.hook_seconds.observe(meter.hook_seconds)
        if meter.lane is None:
            return
        self.request_bytes.labels(meter.lane).observe(meter.request_bytes)
        if answered_at is not None and meter.sent_at is not None:
            self.chain_seconds.labels(meter.lane).observe(max(0.0, answered_at - meter.sent_at))
            self.response_bytes.labels(meter.lane).observe(meter.streamed_bytes if held_bytes is None else held_bytes)


# ---- the listener


class MetricsListenError(Exception):
    """Why the metrics listener cannot start, for the operator."""


def parse_listen(text: str) -> tuple[str, int]:
    """egress_metrics_listen ("ADDRESS:PORT", an IP address) as (address, port). Refuses an
    unspecified address (0.0.0.0, ::): it would listen on the agent's side too."""
    address, sep, port = text.rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise MetricsListenError(f"egress_metrics_listen must be ADDRESS:PORT with an IP address, got {text!r}") from None
    if ip.is_unspecified:
        raise MetricsListenError(f"egress_metrics_listen must name one address, not {address} (every address, the agent's side too)")
    if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsListenError(f"egress_metrics_listen must end with a port 1-65535, got {text!r}")
    return str(ip), int(port)


def only_metrics(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering /metrics with `app` and everything else 404."""

    def routed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"egress-proxy: only /metrics is served here\n"]
        return app(environ, start_response)

    return routed


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A scrape is not worth a line on stderr."""


def serve(registry: CollectorRegistry, address: str, port: int) -> ThreadingWSGIServer:
    """Serve the registry at http://address:port/metrics from a daemon thread."""

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET

    server = make_server(address, port, only_metrics(make_wsgi_app(registry)), Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="egress-metrics", daemon=True).start()
    return server
