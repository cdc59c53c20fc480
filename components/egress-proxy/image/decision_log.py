"""The decision log: one JSON line on stdout per decision and per reload, and how client bytes
are shown in it and in refusals.

Pure rendering (no mitmproxy import); `write` is the one place the lines leave.
"""

import datetime
import json
import sys

from credential_sources import Minted, Source
from egress_routes import Decision
from request_checks import clean_target_bytes


def printable(raw: bytes) -> str:
    """ASCII-only, one-line rendering of client bytes for logs and deny bodies."""
    if clean_target_bytes(raw):
        return raw.decode("ascii")  # every request that passed the checks: nothing to escape
    return "".join(chr(b) if 0x20 < b < 0x7F else f"\\x{b:02x}" for b in raw)


def printable_line(raw: bytes) -> str:
    """Like printable, but keeps spaces: a sentence from the next gate."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


# A status line's reason phrase longer than this is cut: it is for a person, and some clients
# bound the status line (mitmproxy's own reader, at 1 KiB in HTTP/1).
REASON_PHRASE_MAX_CHARS = 512


def refusal_reason_phrase(standard: str, message: str) -> str:
    """A refusal's reason phrase on its HTTP/1 status line: the standard phrase with the refusal's
    line, for the clients that show a refused answer's status line and not its body (npm prints
    `403 Forbidden (egress-proxy: ...) - GET <url>`, `pip -v` its "403 Client Error: ..."). One
    line of printable ASCII, as RFC 9112 allows a reason phrase to be."""
    phrase = f"{standard} ({printable_line(message.encode('ascii', 'backslashreplace'))})"
    return phrase if len(phrase) <= REASON_PHRASE_MAX_CHARS else phrase[: REASON_PHRASE_MAX_CHARS - 4] + "...)"


def log_path(raw_path: bytes) -> str:
    """The request path as the decision log shows it: without the query, printable."""
    query = raw_path.find(b"?")
    return printable(raw_path if query == -1 else raw_path[:query])


def decision_name(decision: Decision, verdict: str | None = None) -> str:
    """The decision as its line names it: allow, deny, audit-allow, or `verdict` (a warning)."""
    return verdict or ("audit-allow" if decision.audit else "allow" if decision.allowed else "deny")


def decision_line(
    decision: Decision, host: str, port: int, method: str, path: str | None, lane: str | None = None, verdict: str | None = None
) -> str:
    """One decision as the log shows it. `verdict` overrides allow/deny (a warning); `lane` is
    where an allowed request went."""
    route = decision.route
    return json.dumps(
        {
            "decision": decision_name(decision, verdict),
            "by": decision.by,
            "reason": decision.reason,
            "route": route.index if route is not None else None,
            "token": route.auth.token if route is not None and route.auth is not None else None,
            "host": host,
            "port": port,
            "method": method,
            "path": path,
            **({"lane": lane} if lane is not None else {}),
        },
        ensure_ascii=True,
    )


def reload_line(status: str, detail: str, config_hash: str | None) -> str:
    """A reload's outcome, in the fields and names of pipelock's own reload line, so one reader
    confirms both gates."""
    line = {"event": "config_reload", "status": status, "detail": detail}
    if config_hash is not None:
        line["config_hash"] = config_hash
    return json.dumps(line, ensure_ascii=True, separators=(",", ":"))


def startup_line(detail: str, config_hash: str) -> str:
    """The routes loaded at start, in the fields and names of pipelock's own `startup` line: a
    gate started after a change confirms the new document with it (no reload follows)."""
    return json.dumps({"event": "startup", "detail": detail, "config_hash": config_hash}, ensure_ascii=True, separators=(",", ":"))


def credential_line(source: Source, minted: Minted | None, error: str, refresh: bool) -> str:
    """One mint or refresh of a credential: its name, kind, outcome, expiry and narrowing, or the
    mint's error (bounded, never a secret). Never the credential."""
    line: dict[str, object] = {
        "event": "credential",
        "name": source.name,
        "kind": source.kind,
        "outcome": "ok" if minted is not None else "error",
        "refresh": refresh,
        "expires_at": expiry_text(minted.expires_at) if minted is not None else None,
        **source.narrowing(),
    }
    if minted is None:
        line["error"] = error
    return json.dumps(line, ensure_ascii=True, separators=(",", ":"))


def expiry_text(expires_at: float | None) -> str | None:
    """An expiry as the log shows it: UTC, to the second (None: it does not expire)."""
    if expires_at is None:
        return None
    return datetime.datetime.fromtimestamp(expires_at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(line: str) -> None:
    """Put a line on stdout at once: the deployment and the tests wait for it."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
