"""The bulk lane's traffic: pipelock's scan API reads what can be read of a request before it
leaves through pipelock-bulk, on a connection of its own, and the text of its answer once the
agent has it (findings logged as warnings, as pipelock's `response_scanning.action: warn` does).

Fail closed: a request that pipelock's scan API refuses, or could not scan, does not leave.
"""

import asyncio
from collections.abc import Callable

from mitmproxy import http
from mitmproxy.connection import Server

from decision_log import printable
from egress_lanes import Lane, decodable_accept_encoding
from egress_routes import BulkLane, Decision
from pipelock_refusals import scan_refusal
from pipelock_scan import AnswerCopy, ScanApi, decoded_text, scan_answer

# Text answers scanned at once on the bulk lane; more wait (pipelock-bulk reads text at about
# 1 MiB/s): a queue, not a pile of parallel scans competing with the traffic.
ANSWER_SCANS_AT_ONCE = 1
ANSWER_SCANS_WAITING = 32

# How a finding about a flow is logged: (flow, by, reason).
Warn = Callable[[http.HTTPFlow, str, str], None]


class BulkLaneTraffic:
    """pipelock-bulk (its proxy address) and its scan API, for the requests that take the bulk lane."""

    def __init__(self, proxy: tuple[str, int], scan_api: ScanApi) -> None:
        self.proxy = proxy
        self.scan_api = scan_api
        self.answer_scans = asyncio.Semaphore(ANSWER_SCANS_AT_ONCE)
        self.answer_scans_waiting = 0

    async def check(self, flow: http.HTTPFlow, settings: BulkLane, git_text: str) -> Decision | None:
        """pipelock's scan API on what can be read of a request for the bulk lane: its URL, the
        sensitive headers (`settings.scan_headers`), a git request's free text (`git_text`, from
        its checked body). The refusal, or None."""
        req = flow.request
        host = f"{req.host}" if req.port == 443 else f"{req.host}:{req.port}"
        texts = [value for name, value in req.headers.items(multi=True) if name.lower() in settings.scan_headers]
        texts.append(git_text)
        scans = [self.scan_api.scan("url", f"https://{host}{printable(req.data.path)}")]
        text = "\n".join(t for t in texts if t)
        if text:
            scans.append(self.scan_api.scan("dlp", text))
        for verdict in await asyncio.gather(*scans):
            if not verdict.allowed:
                return scan_refusal(verdict, req.host)
        return None

    def take(self, flow: http.HTTPFlow, lane: Lane, settings: BulkLane) -> None:
        """Send the request through pipelock-bulk: a connection of its own, since the tunnel's
        may already be open through pipelock."""
        if flow.server_conn.timestamp_start is not None:
            flow.server_conn = Server(address=flow.server_conn.address)
        flow.server_conn.via = ("http", self.proxy)
        if lane.kind == "download" and settings.answer_scan_bytes and "accept-encoding" in flow.request.headers:
            # Only codings the answer can be decoded from for pipelock's answer scan.
            flow.request.headers["accept-encoding"] = decodable_accept_encoding(flow.request.headers["accept-encoding"])

    def copy_answer(self, flow: http.HTTPFlow, settings: BulkLane, warn: Warn) -> None:
        """Stream a text answer to the agent, keeping a copy of its first bytes for pipelock to
        read once it has passed (on the inspect lane pipelock reads it first)."""
        assert flow.response is not None
        encoding = flow.response.headers.get("content-encoding", "")
        limit = settings.answer_scan_bytes
        flow.response.stream = AnswerCopy(limit, lambda copy, more: self._queue_answer_scan(flow, copy, more, encoding, limit, warn))

    def _queue_answer_scan(self, flow: http.HTTPFlow, copy: bytes, more: bool, encoding: str, limit: int, warn: Warn) -> None:
        """Queue pipelock's scan of an answer that has reached the agent; its findings are logged."""
        if self.answer_scans_waiting >= ANSWER_SCANS_WAITING:
            warn(flow, "egress-proxy", f"answer not scanned: {ANSWER_SCANS_WAITING} answers already wait for pipelock's scan")
            return
        self.answer_scans_waiting += 1
        asyncio.get_running_loop().create_task(self._scan_answer(flow, copy, more, encoding, limit, warn))

    async def _scan_answer(self, flow: http.HTTPFlow, copy: bytes, more: bool, encoding: str, limit: int, warn: Warn) -> None:
        try:
            async with self.answer_scans:
                text, problem = decoded_text(copy, encoding, limit)
                found = await scan_answer(self.scan_api.scan, text, more, limit) if text is not None else ("egress-proxy", problem)
            if found is not None:
                warn(flow, *found)
        except Exception as e:  # noqa: BLE001 - a scan after the fact must not take the proxy down
            warn(flow, "egress-proxy", f"answer not scanned: internal error ({type(e).__name__})")
        finally:
            self.answer_scans_waiting -= 1
