"""pipelock's scan API, through which pipelock reads what the bulk lane carries.

pipelock-bulk tunnels the bulk lane's bytes without reading them; before a request goes there,
the egress proxy has pipelock's scan API check its URL (`url`: the allowlist, DLP, entropy,
private addresses, rate limit: pipelock's URL pipeline) and its readable text (`dlp`: sensitive
header values, a git request's free text). Either refusing, or the scan not completing, refuses
the request. Text answers on the bulk lane are scanned (`prompt_injection`) as they pass: the
agent gets them at once, and what pipelock finds is logged, as pipelock's default
`response_scanning.action: warn` does (bottles whose pipelock blocks on answers keep their
downloads on the inspect lane).

Messages carry pipelock's findings (the rule's name), never the scanned text.
"""

import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

SCAN_PATH = "/api/v1/scan"
# The field of `input` each kind of scan reads (pipelock's scan API).
INPUT_FIELD = {"url": "url", "dlp": "text", "prompt_injection": "content"}


@dataclass(frozen=True)
class Verdict:
    """pipelock's answer: allowed or not and its findings' messages; or why there is none
    (`error`), which refuses whatever needed the scan."""

    allowed: bool
    findings: tuple[str, ...] = ()
    error: str | None = None

    def reason(self) -> str:
        """One line for a refusal or a warning: pipelock's findings, or what went wrong."""
        if self.error is not None:
            return self.error
        return "; ".join(self.findings) or "refused"


def verdict_of(status: int, body: bytes) -> Verdict:
    """A scan API answer as a verdict. Pure. Anything but a completed scan is an error."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return Verdict(False, error=f"pipelock's scan API answered {status} without a JSON body")
    if status != 200 or document.get("status") != "completed":
        errors = document.get("errors")
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        detail = first.get("code") or first.get("message") or document.get("status") or "no detail"
        return Verdict(False, error=f"pipelock's scan API answered {status} ({_printable(str(detail))})")
    findings = document.get("findings") or []
    messages = tuple(_printable(str(f.get("message") or f.get("rule_id") or "finding")) for f in findings if isinstance(f, dict))
    decision = document.get("decision")
    if decision not in ("allow", "deny"):
        return Verdict(False, error=f"pipelock's scan API gave no decision ({_printable(str(decision))})")
    return Verdict(decision == "allow", messages)


class ScanApi:
    """A client of pipelock-bulk's scan API: one connection pool, bounded waits."""

    def __init__(self, url: str, client_name: str, timeout: float = 70.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {client_name}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
            trust_env=False,
        )

    async def scan(self, kind: str, value: str) -> Verdict:
        try:
            answer = await self._client.post(SCAN_PATH, json={"kind": kind, "input": {INPUT_FIELD[kind]: value}})
        except httpx.HTTPError as e:
            return Verdict(False, error=f"pipelock's scan API did not answer ({type(e).__name__})")
        return verdict_of(answer.status_code, answer.content)

    async def close(self) -> None:
        await self._client.aclose()


class AnswerCopy:
    """The stream callable of an answer on the bulk lane: passes every chunk on unchanged,
    keeping a copy of the first `limit` bytes, and calls `done` with the copy (and whether the
    answer went on past it) once the answer has ended."""

    def __init__(self, limit: int, done: Callable[[bytes, bool], None]) -> None:
        self.limit = limit
        self.copy = bytearray()
        self.more = False
        self.done = done

    def __call__(self, chunk: bytes) -> bytes:
        if chunk:
            room = self.limit - len(self.copy)
            if room > 0:
                self.copy += chunk[:room]
            if len(chunk) > room:
                self.more = True
        else:
            # mitmproxy calls a stream callable with b"" once the message has ended.
            self.done(bytes(self.copy), self.more)
        return chunk


def decoded_text(body: bytes, content_encoding: str, limit: int) -> tuple[str | None, str]:
    """An answer's text for scanning: decoded from gzip or deflate (at most `limit` bytes),
    as UTF-8 with replacement characters. (None, why) when it cannot be read."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        raw = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        # gzip and zlib headers both (wbits 32+), or a raw deflate stream.
        decoder = zlib.decompressobj(32 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS)
        try:
            raw = decoder.decompress(body, limit)
        except zlib.error:
            if encoding != "deflate":
                return None, "answer not scanned: invalid gzip"
            try:
                raw = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, limit)
            except zlib.error:
                return None, "answer not scanned: invalid deflate"
    else:
        return None, f"answer not scanned: content encoding {_printable(encoding)}"
    return raw.decode("utf-8", "replace"), ""


async def scan_answer(scan: Callable[[str, str], Awaitable[Verdict]], text: str, more: bool, limit: int) -> tuple[str, str] | None:
    """pipelock's verdict on an answer's text, as (by, reason) for a warning line, or None when
    it found nothing. `more`: the answer was longer than what was scanned."""
    verdict = await scan("prompt_injection", text)
    tail = f" (in the first {limit} bytes; the rest was not scanned)" if more else ""
    if verdict.error is not None:
        return "egress-proxy", f"answer not scanned: {verdict.error}"
    if not verdict.allowed:
        return "pipelock", f"answer scan: {verdict.reason()}{tail}"
    return None


def _printable(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:300]
