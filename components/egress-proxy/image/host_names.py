"""Host names: the canonical form of a name a client sends, and which names a route may use.

Pure: no mitmproxy import.
"""

import functools
import ipaddress

LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def is_numeric_host(host: str) -> bool:
    """IP literals and the numeric forms resolvers accept (2130706433, 0x7f.1, 127.1, ::1)."""
    if host.startswith("[") or ":" in host:
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    return last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:]))


def valid_dns_name(name: str) -> bool:
    """Lowercase LDH labels, at most 253 characters, not numeric."""
    if not name or len(name) > 253 or is_numeric_host(name):
        return False
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not all(c in LDH for c in label):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def normalize_host(raw: str) -> str | None:
    """Canonical form of a client-supplied host for matching, or None if it can never match.

    Strips one trailing dot, lowercases, IDNA-encodes; IP literals and numeric forms
    are None because routes name hosts only.
    """
    host = raw[:-1] if raw.endswith(".") else raw
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if valid_dns_name(host) else None
