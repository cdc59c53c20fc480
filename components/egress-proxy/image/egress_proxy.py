"""egress-proxy: the bottle's first gate, as a mitmproxy addon.

Allows exactly the routes declared in routes.yaml (host, port, method, path),
injects each route's credential, answers everything else 403 text/plain, and
writes one JSON decision line per CONNECT and per request to stdout. This module is where
mitmproxy's hooks dispatch, in fail-closed order; each concern has a module of its own:
the route model (egress_routes.py, read from routes.yaml by routes_yaml.py), the checks every
request gets (request_checks.py, host_names.py), the rate limit (rate_limit.py), pipelock's
refusals (pipelock_refusals.py), the decision log (decision_log.py), the bulk lane's traffic
(bulk_lane.py), TLS on the upstream leg (upstream_tls.py), the addon's options
(egress_options.py) and its life: start, reload, drain (proxy_lifecycle.py).

Each allowed request leaves through one of two lanes (egress_lanes.py): the inspect lane
(pipelock, which reads it and its answer whole) or, for the bulk traffic a route names, the
bulk lane (pipelock-bulk, which checks the host and streams), after pipelock's scan API has
checked what can be read of it (pipelock_scan.py) and the egress proxy that a git request is
git's (git_protocol.py). Answers are streamed to the agent on both lanes, short ones sent whole
(egress_lanes.streamed).

A CONNECT the egress proxy refuses is accepted all the same and refused inside, where clients
show it (refused_tunnels.py: TLS with the bottle's CA, no connection out, each request answered
403 with the line and `Connection: close`), in upstream and regular mode alike. The CONNECT's
decision line is written once, and each request in the tunnel has a line of its own with the
same reason, as an allowed tunnel has a CONNECT line and a line per request. The healthcheck's
probe is refused without a line.

When pipelock refuses a tunnel, its reason (its answer's one line, which mitmproxy drops) is
kept by connect_refusal_body.py and quoted to the agent.

Fail closed everywhere: the routes are loaded at start and any problem stops the
process; until they are loaded every flow is refused; an exception in any hook refuses
the flow instead of letting mitmproxy carry on with it. SIGHUP reloads the routes and
tokens in place: a table that does not validate is rejected and the last good one stays.
Either way one `config_reload` JSON line says so (what the deployment waits for).

    mitmdump -s egress_proxy.py --set egress_routes=/path/to/routes.yaml \
        [--set egress_tokens=/path/to/tokens.json]
"""

# No `from __future__ import annotations`: mitmproxy loads scripts outside sys.modules,
# where dataclasses cannot resolve string annotations.
import asyncio
import datetime
import functools
import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mitmproxy import ctx, http, tls
from mitmproxy.connection import Server
from mitmproxy.net.http import url
from mitmproxy.proxy import mode_specs, server_hooks

# mitmproxy puts this script's directory on sys.path while it loads the script.
import connect_refusal_body
import decision_log
import egress_metrics
import egress_options
import proxy_lifecycle
import upstream_tls
from aws_sigv4 import AwsCredentials
from bulk_lane import BulkLaneTraffic
from credential_sources import Minted
from decision_log import log_path, printable
from egress_lanes import INSPECT, Lane, choose_lane, git_service, is_text, passthrough_host, streamed
from egress_routes import HEALTHCHECK_HOST, HEALTHCHECK_MESSAGE, Decision, RouteTable, SigV4, deny, header_value
from git_protocol import GitProtocolError, decoded_body
from git_rules import GitCheck, check_git_request, report_body
from host_names import normalize_host
from minted_credentials import MintedCredentials, unavailable
from pipelock_refusals import may_be_pipelock_refusal, pipelock_refusal, pipelock_tunnel_refusal
from pipelock_scan import ScanApi
from refused_tunnels import RefusedTunnels
from request_checks import (
    check_path,
    check_query,
    header_problem,
    request_query,
    scheme_problem,
    target_mismatch,
    transfer_encoding_problem,
)
from sigv4_requests import presigned, signed_headers

logger = logging.getLogger(__name__)

METADATA_KEY = "egress_proxy"
LANE_KEY = "egress_proxy_lane"

F = TypeVar("F", bound=Callable[..., None])


def _fail_closed_http(hook: F) -> F:
    """Turn any exception in an HTTP hook into a refusal: mitmproxy itself would log and forward."""

    @functools.wraps(hook)
    def wrapper(self: "EgressProxy", flow: http.HTTPFlow) -> None:
        start = time.perf_counter()
        try:
            hook(self, flow)
        except Exception as e:  # noqa: BLE001 - the point is to catch everything
            self._internal_error(flow, hook.__name__, e)
        self.metrics.meter(flow.metadata).hook_seconds += time.perf_counter() - start

    return wrapper  # type: ignore[return-value]


def _fail_closed_async(hook: Callable[..., Any]) -> Callable[..., Any]:
    """_fail_closed_http for a hook that awaits."""

    @functools.wraps(hook)
    async def wrapper(self: "EgressProxy", flow: http.HTTPFlow) -> None:
        start = time.perf_counter()
        try:
            await hook(self, flow)
        except Exception as e:  # noqa: BLE001 - the point is to catch everything
            self._internal_error(flow, hook.__name__, e)
        self.metrics.meter(flow.metadata).hook_seconds += time.perf_counter() - start

    return wrapper


def _last_hook(hook: F) -> F:
    """For the hooks that end a request (response, error): its metrics, once it has run."""

    @functools.wraps(hook)
    def wrapper(self: "EgressProxy", flow: http.HTTPFlow) -> None:
        hook(self, flow)
        resp = flow.response
        held = len(resp.raw_content) if resp is not None and not resp.stream and resp.raw_content is not None else None
        self.metrics.finished(flow.metadata, resp.timestamp_start if resp is not None else None, held)

    return wrapper  # type: ignore[return-value]


class EgressProxy:
    def __init__(self) -> None:
        self.table: RouteTable | None = None
        # The next gate's address in upstream mode: the one connection that is not a route.
        self.upstream_proxies: frozenset[tuple[str, int]] = frozenset()
        # Client connections that opened a CONNECT tunnel: what they send next is tunnelled.
        self.tunnels: set[str] = set()
        # Client connections whose CONNECT was refused: accepted, and refused inside.
        self.refused_tunnels = RefusedTunnels()
        # Set once SIGTERM started the drain (proxy_lifecycle.drain).
        self.draining: asyncio.Task[None] | None = None
        # The bulk lane: pipelock-bulk and its scan API; None: no bulk lane.
        self.bulk: BulkLaneTraffic | None = None
        # The sha256 of pipelock's CA certificate: on the inspect lane the egress proxy accepts
        # only servers that chain to it (pipelock's interception), unless pipelock passes the
        # host through; None: no such check (no upstream proxy).
        self.inspect_ca: bytes | None = None
        self.metrics = egress_metrics.EgressMetrics()
        # The short-lived credentials the routes in use mint, kept fresh in the background.
        self.credentials = MintedCredentials(self.metrics)

    # ---- lifecycle

    def load(self, loader: Any) -> None:
        problem = proxy_lifecycle.limit_request_bodies_only()
        if problem is not None:
            proxy_lifecycle.refuse_to_run(problem)
        egress_options.declare(loader)
        connect_refusal_body.install()
        # After mitmproxy's own addons: its TlsConfig's tls_clienthello runs after this script's.
        addons = ctx.master.addons
        previous = addons.get(type(self.refused_tunnels).__name__.lower())
        if previous is not None:
            addons.remove(previous)
        addons.add(self.refused_tunnels)

    def running(self) -> None:
        # `docker stop` sends SIGTERM, also when a replacement has taken over the proxy's
        # network alias: drain instead of cutting the requests in flight.
        loop = asyncio.get_running_loop()
        if ctx.options.egress_drain_seconds > 0:
            loop.add_signal_handler(signal.SIGTERM, self._start_drain)
        # A route change or token rotation: new files in place, then SIGHUP (no restart).
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        proxy_lifecycle.serve_metrics(self.metrics)

    def configure(self, updated: set[str]) -> None:
        unsafe = egress_options.unsafe_option({name: getattr(ctx.options, name, None) for name in updated})
        if unsafe is not None:
            self.table = None
            proxy_lifecycle.refuse_to_run(unsafe)
            return
        lanes = updated & egress_options.LANE_OPTIONS
        if lanes:
            problem = self._configure_lanes()
            if problem is not None:
                self.table = None
                proxy_lifecycle.refuse_to_run(problem)
                return
        if "mode" in updated or lanes:
            # The proxies this one may connect to: pipelock (upstream mode) and pipelock-bulk.
            self.upstream_proxies = frozenset(
                spec.address
                for spec in (mode_specs.ProxyMode.parse(m) for m in ctx.options.mode)
                if isinstance(spec, mode_specs.UpstreamMode)
            ) | ({self.bulk.proxy} if self.bulk else frozenset())
        if "egress_routes" not in updated and "egress_tokens" not in updated:
            return
        # None until the new routes are in place (every flow refused), and if they do not load.
        self.table = proxy_lifecycle.load_routes(self.metrics, self.credentials.problem)
        if self.table is not None:
            self.credentials.start(self.table)

    def _configure_lanes(self) -> str | None:
        """The bulk lane and the inspect lane's certificate check, from the options; the
        problem when they do not fit together."""
        opts = ctx.options
        if opts.egress_bulk_proxy and not opts.egress_scan_api:
            return "egress_bulk_proxy is set but egress_scan_api is not: the bulk lane would go unchecked"
        self.bulk = None
        if opts.egress_bulk_proxy:
            spec = mode_specs.ProxyMode.parse(f"upstream:{opts.egress_bulk_proxy}")
            assert isinstance(spec, mode_specs.UpstreamMode)
            self.bulk = BulkLaneTraffic(spec.address, ScanApi(opts.egress_scan_api, opts.egress_scan_api_client))
        self.inspect_ca = None
        if opts.egress_inspect_ca:
            try:
                self.inspect_ca = upstream_tls.ca_fingerprint(opts.egress_inspect_ca)
            except (OSError, ValueError) as e:
                return f"cannot read pipelock's CA certificate {opts.egress_inspect_ca} ({type(e).__name__})"
        return None

    def reload(self) -> None:
        """Load the routes and tokens again and swap them in whole, or keep the table in use
        if they do not validate. Flows already decided keep their decision."""
        table = proxy_lifecycle.reload_routes(self.metrics, self.credentials.problem)
        if table is not None:
            self.table = table
            self.credentials.start(table)

    def _start_drain(self) -> None:
        if self.draining is None:
            self.credentials.stop()
            self.draining = asyncio.get_running_loop().create_task(proxy_lifecycle.drain(ctx.options.egress_drain_seconds))

    def done(self) -> None:
        self.credentials.stop()
        proxy_lifecycle.stop_if_unloaded()

    # ---- CONNECT

    @_fail_closed_http
    def http_connect(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        host = normalize_host(req.host)
        if self.table is None:
            decision = deny("routes not loaded", "refusing all traffic")
        elif host is None:
            shown = printable(req.host.encode("utf-8", "surrogateescape"))
            decision = deny("host not allowed (IP literal or invalid name)", shown)
        else:
            decision = self.table.decide_connect(host, req.port)
        self._log(decision, host or req.host, req.port, "CONNECT", None)
        if not decision.allowed:
            self.refused_tunnels.refuse(flow, decision, host or req.host)
            return
        # Connect to exactly the name that was checked.
        assert host is not None
        req.host = host
        flow.metadata[METADATA_KEY] = "tunnel"
        self.tunnels.add(flow.client_conn.id)

    def client_disconnected(self, client: Any) -> None:
        self.tunnels.discard(client.id)
        self.refused_tunnels.forget(client.id)

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
                data.ssl_conn = upstream_tls.refusing_tls()
        except Exception as e:  # noqa: BLE001
            logger.error(f"egress-proxy: tls_start_client failed ({type(e).__name__}); closing the connection")
            data.ssl_conn = upstream_tls.refusing_tls()

    def tls_start_server(self, data: tls.TlsData) -> None:
        # Runs before mitmproxy builds the upstream TLS connection: if the SNI it would send
        # is not the target, hand it a connection that cannot handshake, so it closes.
        try:
            server = data.context.server
            if data.conn is server and server.address is not None and server.sni != server.address[0]:
                logger.error("egress-proxy: upstream SNI differs from the target; closing the connection")
                data.ssl_conn = upstream_tls.refusing_tls()
                return
            if data.conn is server and self.inspect_ca is not None and self._inspected(server):
                upstream_tls.require_chain_through(data, self.inspect_ca)
        except Exception as e:  # noqa: BLE001
            logger.error(f"egress-proxy: tls_start_server failed ({type(e).__name__}); closing the connection")
            data.ssl_conn = upstream_tls.refusing_tls()

    def _inspected(self, server: Server) -> bool:
        """Whether this connection goes through pipelock's interception: the inspect lane, to a
        host pipelock does not pass through."""
        if server.address is None or server.via is None:
            return False
        if self.bulk is not None and tuple(server.via[1]) == self.bulk.proxy:
            return False
        passthrough = self.table.passthrough if self.table is not None else ()
        return not passthrough_host(str(server.address[0]), passthrough)

    # ---- requests

    @_fail_closed_http
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        refused_tunnel = self.refused_tunnels.refusal(flow.client_conn.id)
        if refused_tunnel is not None:
            # Inside a tunnel refused at CONNECT: the CONNECT's refusal, where the agent sees it.
            # Its line carries the CONNECT's reason, as an allowed tunnel's requests each have one.
            tunnel_refusal, tunnel_host, tunnel_port = refused_tunnel
            self._log(tunnel_refusal, tunnel_host, tunnel_port, req.method, log_path(req.data.path))
            self._refuse(flow, tunnel_refusal, headers={"Connection": "close"})
            return
        decision, host, path = self._decide(flow)
        limiter = self.table.rate_limiter if self.table is not None else None
        wait = limiter.take(host) if decision.allowed and limiter is not None else None
        if wait is not None:
            assert limiter is not None
            decision = deny("rate limited", f"at most {limiter.per_minute} requests per minute", host, status=429)
        if not decision.allowed:
            if host != HEALTHCHECK_HOST:  # the healthcheck's probe, every few seconds: not a decision to read
                self._log(decision, host, req.port, req.method, path)
            self._refuse(flow, decision, headers={"Retry-After": str(math.ceil(wait))} if wait is not None else None)
            return
        if self.upstream_proxies and _tunnel_refused_upstream(flow):
            # The next gate refused this tunnel while the agent's TLS handshake was under way.
            refusal = _pipelock_tunnel_refusal(flow, host)
            self._log(refusal, host, req.port, req.method, path)
            self._refuse(flow, refusal, headers={"Connection": "close"})
            return
        flow.metadata[METADATA_KEY] = decision
        # Connect to the checked name; also rewrites Host/:authority to its canonical form.
        if not _names_canonically(req, host):
            req.host = host
        self._inject(flow, decision)

    @_fail_closed_async
    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return  # refused in requestheaders
        decision = flow.metadata.get(METADATA_KEY)
        if not isinstance(decision, Decision) or not decision.allowed:
            raise RuntimeError("request without an allow decision")
        req = flow.request
        path = log_path(req.data.path)
        query = request_query(req.data.path)
        git = self._check_git(flow, decision, path, query)
        if isinstance(git, Decision):
            self._log(git, req.host, req.port, req.method, path)
            self._refuse(flow, git)
            return
        if git is not None and git.refusal is not None:
            push_refusal = deny("push outside the route's refs", git.refusal.summary, req.host)
            self._log(push_refusal, req.host, req.port, req.method, path)
            self._refuse_push(flow, push_refusal, report_body(git.refusal, "egress-proxy"))
            return
        credential = await self._credential(flow, decision, path, query)
        if isinstance(credential, Decision):
            self._log(credential, req.host, req.port, req.method, path)
            self._refuse(flow, credential)
            return
        lane = self._lane(flow, decision, path, query)
        if lane.bulk:
            assert self.bulk is not None and self.table is not None and self.table.bulk_lane is not None
            # The injected credential's header is not among the scanned ones (nor in pipelock's).
            refusal = await self.bulk.check(flow, self.table.bulk_lane, git.free_text if git is not None else "")
            if refusal is not None:
                self._log(refusal, req.host, req.port, req.method, path, lane.name)
                self._refuse(flow, refusal)
                return
            self.bulk.take(flow, lane, self.table.bulk_lane)
        flow.metadata[LANE_KEY] = lane
        _frame_held_body(req)
        self._log(decision, req.host, req.port, req.method, path, lane.name)
        # Again: an addon or a body may have changed headers since requestheaders. A minted
        # credential is set here only, signing (SigV4) the request as it leaves.
        self._inject(flow, decision, credential)
        self.metrics.forwarded(flow.metadata, decision.route, lane.bulk, len(req.raw_content or b""))

    async def _credential(self, flow: http.HTTPFlow, decision: Decision, path: str, query: str | None) -> Minted | Decision | None:
        """The minted credential the request's route injects (None: the route mints none), or the
        refusal: a presigned request on a SigV4 route (the agent's own credentials), or no
        credential available (503, after waiting for a first mint under way)."""
        route = decision.route
        auth = route.auth if route is not None else None
        if route is None or auth is None or not auth.credential:
            return None
        if auth.sigv4 is not None and presigned(query):
            return deny("presigned request on a SigV4 route", "the query carries X-Amz-Signature or X-Amz-Credential", flow.request.host)
        got = await self.credentials.wait_for(auth.credential)
        return unavailable(route, auth.credential, got) if isinstance(got, str) else got

    def _lane(self, flow: http.HTTPFlow, decision: Decision, path: str, query: str | None) -> Lane:
        route = decision.route
        req = flow.request
        if route is None or not route.bulk or self.bulk is None or req.scheme != "https":
            # The bulk lane is a tunnel: plain HTTP has none to take.
            return INSPECT
        return choose_lane(
            route.bulk,
            route.git,
            req.method,
            path,
            query,
            req.headers.get("content-type", ""),
            req.headers.get("accept", ""),
            bool(req.raw_content),
        )

    @staticmethod
    def _check_git(flow: http.HTTPFlow, decision: Decision, path: str, query: str | None) -> GitCheck | Decision | None:
        """For a request to one of its git route's repositories (on either lane): that it is what
        git sends (else the refusal), and what a push may update under the route's rules. None
        for any other request."""
        route = decision.route
        req = flow.request
        service = None if route is None or route.git is None else git_service(path, route.git)
        if service is None:
            return None
        assert route is not None and route.git is not None
        try:
            encoding = req.headers.get("content-encoding", "")
            if service == "git-receive-pack" and encoding.strip().lower() not in ("", "identity"):
                raise GitProtocolError("a push with a Content-Encoding (git sends its pack as it is)")
            body = decoded_body(req.raw_content or b"", encoding, _bytes(ctx.options.body_size_limit))
            return check_git_request(service, req.method, query, body, route.git.push)
        except GitProtocolError as e:
            return deny("not git's protocol", f"{service}: {e}", req.host)

    @staticmethod
    def _refuse_push(flow: http.HTTPFlow, decision: Decision, report: bytes) -> None:
        """Answers a refused push the way git-receive-pack refuses one, so `git push` shows why."""
        flow.metadata[METADATA_KEY] = decision
        flow.response = http.Response.make(
            200, report, {"Content-Type": "application/x-git-receive-pack-result", "Cache-Control": "no-cache"}
        )

    @_fail_closed_http
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if not isinstance(flow.metadata.get(METADATA_KEY), Decision):
            # A response to a request this addon never decided on.
            flow.kill()
            return
        resp = flow.response
        if resp is None:
            return
        content_type, content_length = _header(resp, b"content-type"), _header(resp, b"content-length")
        # Stream responses through (egress_lanes.streamed): a streamed LLM answer (SSE) must
        # reach the agent as it comes, and no download may have to fit in memory. A short answer
        # that may be the next gate's refusal is read whole, for `response` to map it.
        if self.upstream_proxies and may_be_pipelock_refusal(resp.status_code, content_type, content_length):
            return
        lane = flow.metadata.get(LANE_KEY)
        settings = self.table.bulk_lane if self.table is not None else None
        if (
            isinstance(lane, Lane)
            and lane.bulk
            and self.bulk is not None
            and settings is not None
            and settings.answer_scan_bytes
            and is_text(content_type)
        ):
            self.bulk.copy_answer(flow, settings, self._warn)
        elif streamed(content_type, content_length):
            resp.stream = True
        if resp.stream:
            resp.stream = self.metrics.meter(flow.metadata).counting(resp.stream)

    def _warn(self, flow: http.HTTPFlow, by: str, reason: str) -> None:
        req = flow.request
        decision = Decision(True, reason, "", None, by=by)
        lane = flow.metadata.get(LANE_KEY)
        self._log(
            decision, req.host, req.port, req.method, log_path(req.data.path), lane.name if isinstance(lane, Lane) else None, verdict="warn"
        )

    @_last_hook
    @_fail_closed_http
    def response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        if not self.upstream_proxies or resp is None:
            return
        refusal = pipelock_refusal(resp.status_code, _header(resp, b"content-type"), resp.raw_content)
        if refusal is not None:
            req = flow.request
            self._log(refusal, req.host, req.port, req.method, log_path(req.data.path))
            self._refuse(flow, refusal)

    @_last_hook
    @_fail_closed_http
    def error(self, flow: http.HTTPFlow) -> None:
        # Refusals mitmproxy answers itself, after the request hooks: the log records them.
        # A tunnel pipelock refused when mitmproxy (re)connected for a request (the agent gets
        # mitmproxy's 502 page), and a body over body_size_limit (413).
        if flow.error is None:
            return
        req = flow.request
        if "refused HTTP CONNECT request" in flow.error.msg:
            refusal = _pipelock_tunnel_refusal(flow, req.host)
        elif "Request body exceeds" in flow.error.msg:
            limit = getattr(ctx.options, "body_size_limit", "")
            refusal = deny("request body too large", f"at most {limit} bytes", req.host, status=413)
        else:
            return
        self._log(refusal, req.host, req.port, req.method, log_path(req.data.path))

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
        path = printable(path_bytes)
        host = normalize_host(req.host)
        shown = host or printable(req.host.encode("utf-8", "surrogateescape"))
        if self.table is None:
            return deny("routes not loaded", "refusing all traffic"), shown, path
        if host is None:
            return deny("host not allowed (IP literal or invalid name)", shown), shown, path
        if host == HEALTHCHECK_HOST:
            return Decision(False, "healthcheck", HEALTHCHECK_MESSAGE, None), host, path
        client = flow.client_conn
        mismatch = target_mismatch(
            host, req.port, req.scheme, req.data.authority, _header_values(req, b"host"), client.sni if client.tls else None
        )
        if mismatch is not None:
            return deny(mismatch, f"{host}:{req.port}"), host, path
        problem = check_path(path_bytes)
        if problem is None and query != -1:
            problem = check_query(raw_path[query + 1 :])
        if problem is not None:
            return deny(f"path rejected ({problem})", path), host, path
        problem = header_problem(req.headers.fields)
        if problem is not None:
            return deny(f"headers rejected ({problem})", path, host), host, path
        encoding = transfer_encoding_problem(_header_values(req, b"transfer-encoding"))
        if encoding is not None:
            return deny("Transfer-Encoding other than chunked", encoding, host, status=400), host, path
        problem = scheme_problem(req.scheme, req.port, flow.client_conn.id in self.tunnels)
        if problem is not None:
            return deny(problem, f"{host}:{req.port}"), host, path
        return self.table.decide_request(host, req.port, req.method, path, tls=req.scheme == "https"), host, path

    def _inject(self, flow: http.HTTPFlow, decision: Decision, credential: Minted | None = None) -> None:
        """Strip every injected header name from the request, then set the route's: its static
        token, or `credential` (a minted one, set in the request hook only)."""
        assert self.table is not None
        req = flow.request
        # Only the route's own injection may carry these names: the next gate does not scan them.
        # (On the raw fields: mitmproxy's Headers converts every field's name on each lookup,
        # which was most of the addon's time per request.)
        stripped = self.table.stripped_header_bytes
        kept = tuple(field for field in req.headers.fields if field[0].lower() not in stripped)
        auth = decision.route.auth if decision.route is not None else None
        req.trailers = None
        if auth is not None and auth.sigv4 is not None:
            req.headers.fields = kept
            if credential is not None:
                req.headers.fields = kept + tuple(self._signature(req, auth.sigv4, credential))
            return
        value = auth.value if auth is not None and not auth.credential else None
        if auth is not None and credential is not None and isinstance(credential.secret, str):
            value = header_value(auth, credential.secret)
        if auth is not None and value is not None:
            # HTTP/2 header names are lowercase (mitmproxy would lowercase it, with a warning).
            name = auth.header.lower() if req.is_http2 else auth.header
            kept += ((name.encode("ascii"), value.encode("ascii")),)
        req.headers.fields = kept

    @staticmethod
    def _signature(req: http.Request, sigv4: SigV4, credential: Minted) -> list[tuple[bytes, bytes]]:
        """The SigV4 headers of a request as it leaves: its method, Host as sent, raw target and
        whole body (held: bodies are never streamed; fail closed if one were)."""
        if req.raw_content is None or not isinstance(credential.secret, AwsCredentials):
            raise RuntimeError("a SigV4 request without its whole body or AWS credentials")
        fields = signed_headers(
            method=req.method,
            host=url.hostport(req.scheme, req.host, req.port),
            target=req.data.path,
            body=req.raw_content,
            sigv4=sigv4,
            credentials=credential.secret,
            now=datetime.datetime.now(datetime.UTC),
        )
        # HTTP/2 header names are lowercase.
        return [(name.lower(), value) for name, value in fields] if req.is_http2 else fields

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
        flow.response.reason = decision_log.refusal_reason_phrase(flow.response.reason, decision.message)

    def _internal_error(self, flow: http.HTTPFlow, hook: str, error: Exception) -> None:
        # Only the exception type: a message could quote header values.
        decision = deny("internal error", f"request refused ({hook}: {type(error).__name__})", status=500)
        try:
            req = flow.request
            self._log(decision, req.host, req.port, req.method, None)
        except Exception:  # noqa: BLE001, S110 - the refusal below matters more than its log line
            pass
        try:
            if hook in ("responseheaders", "websocket_start"):
                flow.kill()
            else:
                self._refuse(flow, decision)
        except Exception:  # noqa: BLE001
            flow.kill()

    def _log(
        self, decision: Decision, host: str, port: int, method: str, path: str | None, lane: str | None = None, verdict: str | None = None
    ) -> None:
        decision_log.write(decision_log.decision_line(decision, host, port, method, path, lane, verdict))
        # Counted where the line is written: the metrics and the log never disagree.
        self.metrics.decided(decision, decision_log.decision_name(decision, verdict), host, method, self.table)

    # ---- non-HTTP traffic is never relayed

    def tcp_start(self, flow: Any) -> None:
        flow.kill()

    def udp_start(self, flow: Any) -> None:
        flow.kill()


def _names_canonically(req: http.Request, host: str) -> bool:
    """Whether a request already names `host` as mitmproxy's host setter would write it: as its
    target, in its one Host header (if it has one) and its :authority (if it has one). The
    setter rebuilds the headers even when it changes nothing."""
    canonical = url.hostport(req.scheme, host, req.port).encode("ascii")
    hosts = _header_values(req, b"host")
    return req.data.host == host and hosts in ([], [canonical.decode("ascii")]) and req.data.authority in (b"", canonical)


def _header_values(message: http.Message, name: bytes) -> list[str]:
    """A header's values, as mitmproxy's `headers.get_all(name)` gives them (`name` lowercase),
    read off the raw fields: mitmproxy's Headers converts every field's name on each lookup."""
    return [value.decode("utf-8", "surrogateescape") for key, value in message.headers.fields if key.lower() == name]


def _header(message: http.Message, name: bytes) -> str:
    """A header, as mitmproxy's `headers.get(name, "")` gives it (`name` lowercase)."""
    return ", ".join(_header_values(message, name))


def _frame_held_body(req: http.Request) -> None:
    """Give a held body its length. An HTTP/2 request need not announce one, and mitmproxy
    writes it to an HTTP/1 server without any framing, which would read the body as the next
    request (on the bulk lane the server is the host itself)."""
    if req.raw_content and "content-length" not in req.headers and "transfer-encoding" not in req.headers:
        req.headers["content-length"] = str(len(req.raw_content))


def _bytes(size: Any) -> int:
    """mitmproxy's body_size_limit ("33554432", "32m") in bytes."""
    from mitmproxy.utils import human

    parsed = human.parse_size(str(size)) if size else None
    return parsed if parsed is not None else 32 * 1024 * 1024


def _pipelock_tunnel_refusal(flow: http.HTTPFlow, host: str) -> Decision:
    """pipelock's refusal of this flow's tunnel, in its own words if they arrived."""
    kept = connect_refusal_body.take(flow.server_conn.id)
    return pipelock_tunnel_refusal(host, flow.request.port, kept.status if kept else None, kept.body if kept else None)


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


addons = [EgressProxy()]
