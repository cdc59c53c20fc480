"""pipelock's refusals, as the egress proxy's decisions: the one-line answers pipelock (the next
gate, in upstream mode) refuses with, a tunnel it refused, and a refusal by its scan API.

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
    return Decision(False, reason, f"pipelock: {printable_line(line)}", None, by="pipelock", status=status)


def may_be_pipelock_refusal(status: int, content_type: str, content_length: str) -> bool:
    """Whether a response's head allows it to be pipelock's refusal (see pipelock_refusal):
    only those are read whole before they are passed on."""
    return (
        status in PIPELOCK_REFUSAL_STATUSES
        and content_type.startswith("text/plain")
        and announced_at_most(content_length, PIPELOCK_REFUSAL_MAX_BYTES)
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


def scan_refusal(verdict: Verdict, host: str) -> Decision:
    """A refusal by pipelock's scan API; or, when the scan did not complete, the egress
    proxy's own (fail closed: what pipelock has not read does not take the bulk lane)."""
    if verdict.error is not None:
        return deny("bulk lane check failed", verdict.error, host, status=502)
    return Decision(False, "refused", f"pipelock: blocked: {verdict.reason()}", None, by="pipelock")
