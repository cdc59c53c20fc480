"""pipelock's refusals, as the egress proxy's decisions: the one-line answers pipelock (the next
gate, in upstream mode) refuses with, a tunnel it refused, and a refusal by its scan API. Each
quotes pipelock's own words to the agent, and the decision's reason is the bounded class of
those words (refusal_reason), for the log and the metrics.

Pure: no mitmproxy import.
"""

from decision_log import printable_line
from egress_lanes import announced_at_most
from egress_routes import Decision, deny
from pipelock_scan import Verdict

# pipelock (the next gate, in upstream mode) refuses in-band with one short text/plain line
# starting like this: 403 for its checks, 429 for its rate limit, 503 for its kill switch.
PIPELOCK_REFUSAL_PREFIXES = (b"blocked: ", b"CONNECT blocked: ", b"airlock: ", b"authority mismatch", b"kill switch active")
PIPELOCK_REFUSAL_STATUSES = frozenset({403, 429, 503})
PIPELOCK_REFUSAL_MAX_BYTES = 1024

# The reason classes of pipelock's refusals, by the words of its scanners and proxy
# (pipelock 2.3.0: internal/scanner/scanner.go, core.go, internal/proxy/forward.go,
# bodyscan.go, intercept.go; internal/scanapi/scan.go for the scan API), first match wins: a DNS failure is reported as an "SSRF check
# failed", so it is looked for before SSRF.
REFUSAL_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kill switch", ("kill switch",)),
    ("tunnel dial failed", ("tunnel dial failed",)),
    ("dns", ("DNS resolution error",)),
    ("ssrf", ("SSRF", "private/internal IP")),
    ("allowlist", ("domain not in allowlist", "domain blocked")),
    ("rate limit", ("rate limit exceeded",)),
    ("dlp", ("DLP match", "contains secret", "Secret-like token detected")),
    ("body size", ("exceeds max_body_bytes", "too large")),
)


def refusal_reason(line: str) -> str:
    """The bounded reason of one of pipelock's refusal lines: one of REFUSAL_REASONS' classes,
    else "other"."""
    for reason, words in REFUSAL_REASONS:
        if any(word in line for word in words):
            return reason
    return "other"


def in_pipelocks_words(line: str, status: int = 403) -> Decision:
    """pipelock's refusal, told to the agent in its own words (a printable line), its reason the
    line's class."""
    return Decision(False, refusal_reason(line), f"pipelock: {line}", None, by="pipelock", status=status)


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
    return in_pipelocks_words(printable_line(line), status)


def may_be_pipelock_refusal(status: int, content_type: str, content_length: str) -> bool:
    """Whether a response's head allows it to be pipelock's refusal (see pipelock_refusal):
    only those are read whole before they are passed on."""
    return (
        status in PIPELOCK_REFUSAL_STATUSES
        and content_type.startswith("text/plain")
        and announced_at_most(content_length, PIPELOCK_REFUSAL_MAX_BYTES)
    )


def pipelock_tunnel_refusal(host: str, port: int, status: str | None, body: bytes | None) -> Decision:
    """pipelock refused the CONNECT for a tunnel with `status` ("403 Forbidden") and `body`, the
    bytes of its answer that arrived with its head (connect_refusal_body.py; None: not kept). Its
    first line is pipelock's reason; without one the refusal says only what is known."""
    line = (body or b"")[:PIPELOCK_REFUSAL_MAX_BYTES].split(b"\n", 1)[0].strip()
    if line:
        return in_pipelocks_words(printable_line(line))
    answered = f" with {printable_line(status.encode('ascii', 'replace'))}" if status else ""
    return Decision(
        False,
        "other",
        f"pipelock: refused the connection to {host}:{port}{answered} (its reason did not arrive; pipelock's log has it)",
        None,
        by="pipelock",
    )


def scan_refusal(verdict: Verdict, host: str) -> Decision:
    """A refusal by pipelock's scan API; or, when the scan did not complete, the egress
    proxy's own (fail closed: what pipelock has not read does not take the bulk lane)."""
    if verdict.error is not None:
        return deny("bulk lane check failed", verdict.error, host, status=502)
    return in_pipelocks_words(f"blocked: {verdict.reason()}")
