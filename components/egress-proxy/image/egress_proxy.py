"""egress-proxy: the bottle's first gate, as a mitmproxy addon.

Allows exactly the routes declared in routes.yaml (host, port, method, path),
injects each route's credential, answers everything else 403 text/plain, and
writes one JSON decision line per CONNECT and per request to stdout. The route model
(what routes.yaml may say, how a request is decided) is egress_routes.py; this module
applies it to mitmproxy's flows.

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
import functools
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mitmproxy import ctx, http, tls
from OpenSSL import SSL
from mitmproxy.proxy import mode_specs, server_hooks

# mitmproxy puts this script's directory on sys.path while it loads the script.
from egress_routes import (
    HEALTHCHECK_HOST,
    HEALTHCHECK_MESSAGE,
    Decision,
    RouteTable,
    RoutesError,
    check_path,
    check_query,
    deny,
    header_problem,
    load_config,
    log_path,
    may_be_pipelock_refusal,
    normalize_host,
    parse_authority,
    pipelock_refusal,
    pipelock_tunnel_refusal,
    printable,
    scheme_problem,
    transfer_encoding_problem,
)

logger = logging.getLogger(__name__)

METADATA_KEY = "egress_proxy"

F = TypeVar("F", bound=Callable[..., None])


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
        # Set once SIGTERM started the drain (see `_drain`).
        self.draining: asyncio.Task[None] | None = None

    # ---- lifecycle

    def load(self, loader: Any) -> None:
        loader.add_option("egress_routes", str, "", "Path of routes.yaml (version 1). Required.")
        loader.add_option(
            "egress_tokens",
            str,
            "",
            "Path of the tokens file (a JSON object of EGRESS_PROXY_TOKEN_<N> to values). "
            "Empty: the tokens are read from the environment.",
        )
        loader.add_option(
            "egress_drain_seconds",
            int,
            0,
            "On SIGTERM, stop accepting connections and let open ones finish for up to this many "
            "seconds before exiting. 0: exit at once.",
        )

    def running(self) -> None:
        # `docker stop` sends SIGTERM, also when a replacement has taken over the proxy's
        # network alias: drain instead of cutting the requests in flight.
        loop = asyncio.get_running_loop()
        if ctx.options.egress_drain_seconds > 0:
            loop.add_signal_handler(signal.SIGTERM, self._start_drain)
        # A route change or token rotation: new files in place, then SIGHUP (no restart).
        loop.add_signal_handler(signal.SIGHUP, self.reload)

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
        if "egress_routes" not in updated and "egress_tokens" not in updated:
            return
        self.table = None  # refuse everything until the new routes are in place
        try:
            table, _ = load_config(ctx.options.egress_routes, ctx.options.egress_tokens)
        except RoutesError as e:
            self._refuse_to_run(str(e))
            return
        except Exception as e:  # noqa: BLE001
            self._refuse_to_run(f"unexpected error loading routes: {type(e).__name__}")
            return
        self.table = table
        logger.info(f"egress-proxy: {len(table.routes)} routes loaded from {ctx.options.egress_routes}")

    def reload(self) -> None:
        """Load the routes and tokens again and swap them in whole, or keep the table in use
        if they do not validate. Flows already decided keep their decision."""
        try:
            table, config_hash = load_config(ctx.options.egress_routes, ctx.options.egress_tokens)
        except RoutesError as e:
            _log_reload("rejected", f"{e}; keeping the previous routes", None)
            return
        except Exception as e:  # noqa: BLE001
            _log_reload("rejected", f"unexpected error loading routes: {type(e).__name__}; keeping the previous routes", None)
            return
        self.table = table
        _log_reload("success", f"{len(table.routes)} routes", config_hash)

    def _start_drain(self) -> None:
        if self.draining is None:
            self.draining = asyncio.get_running_loop().create_task(self._drain(ctx.options.egress_drain_seconds))

    async def _drain(self, seconds: int) -> None:
        """Close the listening socket, so new connections are refused at once (a client then
        tries the alias's other address: the replacement), wait until the open connections
        have closed or `seconds` have passed, then shut down."""
        proxyserver = ctx.master.addons.get("proxyserver")
        logger.info(f"egress-proxy: draining {len(proxyserver.connections)} connections (up to {seconds} s)")
        ctx.options.update(server=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while proxyserver.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        logger.info(f"egress-proxy: drained; stopping with {len(proxyserver.connections)} connections open")
        sys.stdout.flush()
        ctx.master.shutdown()

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
            decision = deny("routes not loaded", "refusing all traffic")
        elif host is None:
            shown = printable(req.host.encode("utf-8", "surrogateescape"))
            decision = deny("host not allowed (IP literal or invalid name)", shown)
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
            decision = deny("rate limited", f"at most {limiter.per_minute} requests per minute", host, status=429)
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
            self._log(refusal, req.host, req.port, req.method, log_path(req.data.path))
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
        path = log_path(raw_path)
        host = normalize_host(req.host)
        shown = host or printable(req.host.encode("utf-8", "surrogateescape"))
        if self.table is None:
            return deny("routes not loaded", "refusing all traffic"), shown, path
        if host is None:
            return deny("host not allowed (IP literal or invalid name)", shown), shown, path
        if host == HEALTHCHECK_HOST:
            return Decision(False, "healthcheck", HEALTHCHECK_MESSAGE, None), host, path
        mismatch = self._target_mismatch(flow, host)
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
        encoding = transfer_encoding_problem(req.headers.get_all("transfer-encoding"))
        if encoding is not None:
            return deny("Transfer-Encoding other than chunked", encoding, host, status=400), host, path
        problem = scheme_problem(req.scheme, req.port, flow.client_conn.id in self.tunnels)
        if problem is not None:
            return deny(problem, f"{host}:{req.port}"), host, path
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
        # (On the raw fields: building header names as str for every request was most of the
        # addon's time per request.)
        stripped = self.table.stripped_header_bytes
        for name in {name.lower() for name, _ in headers.fields if name.lower() in stripped}:
            del headers[name.decode("ascii")]
        flow.request.trailers = None
        auth = decision.route.auth if decision.route is not None else None
        if auth is not None:
            # HTTP/2 header names are lowercase (mitmproxy would lowercase it, with a warning).
            headers[auth.header.lower() if flow.request.is_http2 else auth.header] = auth.value

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
        decision = deny("internal error", f"request refused ({hook}: {type(error).__name__})", status=500)
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
                "decision": "audit-allow" if decision.audit else "allow" if decision.allowed else "deny",
                "by": decision.by,
                "reason": decision.reason,
                "route": decision.route.index if decision.route is not None else None,
                "token": decision.route.auth.token if decision.route is not None and decision.route.auth is not None else None,
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


def _log_reload(status: str, detail: str, config_hash: str | None) -> None:
    # The fields and names of pipelock's own reload line, so one reader confirms both gates.
    line = {"event": "config_reload", "status": status, "detail": detail}
    if config_hash is not None:
        line["config_hash"] = config_hash
    sys.stdout.write(json.dumps(line, ensure_ascii=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


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
