"""The egress proxy's mitmproxy options: the ones it adds, and the settings of mitmproxy's own
that it refuses to run with.

Pure: no mitmproxy import (the loader is passed in), like mitmproxy's own option parsing.
"""

from collections.abc import Mapping
from typing import Any

# (name, type, default, help), as mitmproxy's loader.add_option takes them.
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("egress_routes", str, "", "Path of routes.yaml (version 1). Required."),
    (
        "egress_tokens",
        str,
        "",
        "Path of the tokens file (a JSON object of EGRESS_PROXY_TOKEN_<N> to values). Empty: the tokens are read from the environment.",
    ),
    (
        "egress_bulk_proxy",
        str,
        "",
        "pipelock-bulk's address (http://HOST:PORT): the bulk lane. Needs egress_scan_api. Empty: no bulk lane.",
    ),
    ("egress_scan_api", str, "", "The URL of pipelock-bulk's scan API (http://HOST:PORT)."),
    ("egress_scan_api_client", str, "egress-proxy", "The bearer name the scan API knows this client by."),
    (
        "egress_inspect_ca",
        str,
        "",
        "pipelock's CA certificate: on the inspect lane only servers chaining to it are accepted. Empty: no check.",
    ),
    (
        "egress_drain_seconds",
        int,
        0,
        "On SIGTERM, stop accepting connections and let open ones finish for up to this many seconds before exiting. 0: exit at once.",
    ),
    (
        "egress_metrics_listen",
        str,
        "",
        "ADDRESS:PORT of the Prometheus metrics listener (/metrics): one address on the egress side, never the agent's. Empty: none.",
    ),
)
# The options that say how requests leave: pipelock-bulk, its scan API, pipelock's CA.
LANE_OPTIONS = frozenset({"egress_bulk_proxy", "egress_scan_api", "egress_scan_api_client", "egress_inspect_ca"})


def declare(loader: Any) -> None:
    """Add the egress proxy's options to mitmproxy's (the `load` hook's loader)."""
    for option in OPTIONS:
        loader.add_option(*option)


def unsafe_option(updated: Mapping[str, Any]) -> str | None:
    """Why mitmproxy options set to these values (the ones just updated, by name) would leak a
    credential or bypass the gate, or None."""
    if (updated.get("flow_detail") or 0) >= 2:
        return "flow_detail >= 2 would print injected credentials; use 0 or 1"
    if updated.get("save_stream_file"):
        return "save_stream_file would write injected credentials to disk; unset it"
    for name in ("ignore_hosts", "allow_hosts", "tcp_hosts", "udp_hosts"):
        if updated.get(name):
            return f"{name} would let traffic skip the gate's checks; leave it empty"
    if updated.get("validate_inbound_headers") is False:
        return "validate_inbound_headers must stay on (request smuggling)"
    if updated.get("stream_large_bodies"):
        return "stream_large_bodies would send bodies (and trailers) upstream before the request hook; unset it"
    return None
