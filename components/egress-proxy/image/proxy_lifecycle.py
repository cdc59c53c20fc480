"""The egress proxy's life around its hooks: the routes loaded at start and on SIGHUP, refusing
to run, draining on SIGTERM, and stopping when mitmproxy unloads the addon.

Fail closed: a start that cannot load its routes stops the process; a reload that cannot
keeps the routes in use. Either way of reloading prints one `config_reload` line, and a start
one `startup` line with the document's sha256 (what the deployment waits for).
"""

import asyncio
import inspect
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx
from mitmproxy.proxy.layers.http import HttpStream

import decision_log
from egress_metrics import EgressMetrics, MetricsListenError, parse_listen, serve
from egress_routes import RouteTable
from routes_yaml import RoutesError, load_config

logger = logging.getLogger(__name__)


def limit_request_bodies_only() -> str | None:
    """Make mitmproxy's body_size_limit bound the request bodies it holds, not the answers it
    streams: it checks both against the one option, before any hook can stream an answer, so
    a download larger than the limit would be refused. Returns the problem if this mitmproxy's
    HTTP layer is not the one this was written for (mitmproxy 11 and 12)."""
    original = getattr(HttpStream, "check_body_size", None)
    if getattr(original, "_egress_requests_only", False):
        return None
    if original is None or not inspect.isgeneratorfunction(original):
        return "this mitmproxy's HttpStream.check_body_size is not the generator it patches; use the mitmproxy of requirements.txt"

    def check_body_size(self: HttpStream, request: bool) -> Any:
        if request:
            return (yield from original(self, request))
        return False

    check_body_size._egress_requests_only = True  # type: ignore[attr-defined]
    HttpStream.check_body_size = check_body_size  # type: ignore[method-assign]
    return None


# Why a table that validates cannot be used by this proxy (its options), or None.
Check = Callable[[RouteTable], str | None]


def load_routes(metrics: EgressMetrics, check: Check) -> RouteTable | None:
    """The routes and tokens the options name, at start or when those options change; None
    (and the process stops) if they do not validate or `check` finds a problem."""
    try:
        table, config_hash = load_config(ctx.options.egress_routes, ctx.options.egress_tokens)
        problem = check(table)
        if problem is not None:
            raise RoutesError(f"{ctx.options.egress_routes}: {problem}")
    except RoutesError as e:
        refuse_to_run(str(e))
        return None
    except Exception as e:  # noqa: BLE001 - whatever it is, the proxy must not run without routes
        refuse_to_run(f"unexpected error loading routes: {type(e).__name__}")
        return None
    logger.info(f"egress-proxy: {len(table.routes)} routes loaded from {ctx.options.egress_routes}")
    decision_log.write(decision_log.startup_line(f"{len(table.routes)} routes", config_hash))
    metrics.loaded(config_hash)
    return table


def reload_routes(metrics: EgressMetrics, check: Check) -> RouteTable | None:
    """The routes and tokens read again (SIGHUP), or None if they do not validate (or `check`
    finds a problem): the caller keeps the table in use. Prints the `config_reload` line either
    way, and counts it."""
    try:
        table, config_hash = load_config(ctx.options.egress_routes, ctx.options.egress_tokens)
        problem = check(table)
        if problem is not None:
            raise RoutesError(f"{ctx.options.egress_routes}: {problem}")
    except RoutesError as e:
        _reloaded(metrics, None, "rejected", f"{e}; keeping the previous routes")
        return None
    except Exception as e:  # noqa: BLE001 - an unexpected error rejects the reload like any other
        _reloaded(metrics, None, "rejected", f"unexpected error loading routes: {type(e).__name__}; keeping the previous routes")
        return None
    _reloaded(metrics, config_hash, "success", f"{len(table.routes)} routes")
    return table


def _reloaded(metrics: EgressMetrics, config_hash: str | None, status: str, detail: str) -> None:
    decision_log.write(decision_log.reload_line(status, detail, config_hash))
    metrics.reloaded(config_hash)


def serve_metrics(metrics: EgressMetrics) -> None:
    """Start the metrics listener egress_metrics_listen names (empty: none). Fail closed: a
    listener that cannot start as configured stops the proxy."""
    listen = ctx.options.egress_metrics_listen
    if not listen:
        return
    try:
        address, port = parse_listen(listen)
        serve(metrics.registry, address, port)
    except (MetricsListenError, OSError) as e:
        refuse_to_run(f"metrics listener (EGRESS_PROXY_METRICS_PORT): {e}")
        return
    logger.info(f"egress-proxy: metrics at http://{listen}/metrics")


def refuse_to_run(problem: str) -> None:
    # An error logged during startup makes mitmdump exit 1 before serving (errorcheck);
    # the scheduled exit covers a reload after startup. Until then table is None: deny all.
    logger.error(f"egress-proxy: refusing to start: {problem}")
    try:
        asyncio.get_running_loop().call_soon(_exit_failed)
    except RuntimeError:
        pass  # no loop (unit tests): the caller sees table is None


async def drain(seconds: int) -> None:
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


def stop_if_unloaded() -> None:
    """The `done` hook: also called when mitmproxy unloads the addon while running (a hot
    reload after the file changed). Until a new copy loads, and forever if it fails to,
    nothing would gate traffic: stop at once, before another flow is handled."""
    try:
        stopping = ctx.master.should_exit.is_set()
    except Exception:  # noqa: BLE001 - no master (unit tests): not running
        stopping = False
    if not stopping:
        sys.stderr.write("egress-proxy: addon unloaded while the proxy is running; stopping\n")
        sys.stderr.flush()
        _hard_exit()


def _exit_failed() -> None:
    sys.exit(1)


def _hard_exit() -> None:
    sys.stdout.flush()
    os._exit(1)
