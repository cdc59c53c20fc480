"""The addon's side of minted credentials: a refresher per loaded route table (started at load
and reload, stopped when replaced or draining), minting through pipelock (the upstream proxy
and its CA, from mitmproxy's options), the `credential` log line and metrics of every mint, and
a request's bounded wait for its credential.
"""

import asyncio
import time

from mitmproxy import ctx
from mitmproxy.proxy import mode_specs

import credential_minting
import decision_log
from credential_refresher import PENDING, CredentialRefresher
from credential_sources import Minted, Source
from egress_metrics import EgressMetrics
from egress_routes import Decision, Route, RouteTable
from mint_client import MintClient

# How long a request waits for its credential's first mint before the 503.
FIRST_MINT_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
UNAVAILABLE = "credential not available"


class MintedCredentials:
    def __init__(self, metrics: EgressMetrics) -> None:
        self.metrics = metrics
        self.refresher: CredentialRefresher | None = None

    @staticmethod
    def client(table: RouteTable) -> MintClient | None:
        """Minting goes through pipelock as agent traffic does: the one upstream proxy (plain
        HTTP, CONNECT) and pipelock's CA, or for a host pipelock passes through the upstream leg's
        trust; None when the proxy runs without them."""
        upstreams = [
            spec for spec in (mode_specs.ProxyMode.parse(m) for m in ctx.options.mode) if isinstance(spec, mode_specs.UpstreamMode)
        ]
        if len(upstreams) != 1 or upstreams[0].scheme != "http" or not ctx.options.egress_inspect_ca:
            return None
        return MintClient(
            upstreams[0].address, ctx.options.egress_inspect_ca, table.passthrough, ctx.options.ssl_verify_upstream_trusted_ca or ""
        )

    def problem(self, table: RouteTable) -> str | None:
        """Why `table`'s credentials cannot be minted here, or None."""
        if table.credentials and self.client(table) is None:
            names = ", ".join(sorted(table.credentials))
            return (
                f"credentials ({names}) are minted through pipelock, but this egress proxy has no upstream proxy "
                "and CA (EGRESS_PROXY_UPSTREAM_PROXY=http://..., EGRESS_PROXY_UPSTREAM_CA)"
            )
        return None

    def start(self, table: RouteTable) -> None:
        """Mint `table`'s credentials (keeping those of unchanged sources) and stop the refresher
        of the table it replaces."""
        client = self.client(table)
        previous = self.refresher
        self.refresher = None
        if table.credentials and client is not None:
            self.refresher = CredentialRefresher(
                table.credentials, lambda source, now: credential_minting.mint(source, client, now), self._report, previous=previous
            )
        if previous is not None:
            previous.stop()
        self.metrics.credentials_in_use(table.credentials)

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()

    async def wait_for(self, name: str) -> Minted | str:
        """The credential `name` now, or once its first mint ends (at most 10 s); else why there is none."""
        deadline = time.monotonic() + FIRST_MINT_WAIT_SECONDS
        while True:
            got = self.refresher.current(name) if self.refresher is not None else "no credentials are minted"
            if got != PENDING or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(POLL_SECONDS)

    def _report(self, source: Source, minted: Minted | None, error: str, refresh: bool) -> None:
        """One mint's outcome (from its refresher's thread): its line and its counts."""
        decision_log.write(decision_log.credential_line(source, minted, error, refresh))
        if minted is None:
            self.metrics.mint_failed(source.name, source.kind)
        else:
            self.metrics.minted(source.name, source.kind, minted.expires_at)


def unavailable(route: Route, name: str, why: str) -> Decision:
    """The 503 of a request whose credential is not available, with the reason."""
    return Decision(False, UNAVAILABLE, f"egress-proxy: credential {name} not available: {why}", route, status=503)
