"""The checks every request gets before any route is consulted: its target (path and query),
its headers, its scheme, its framing, and that its Host header, :authority and SNI all name
the target. Each returns why the request is refused, or None.

Pure: no mitmproxy import.
"""

from collections.abc import Iterable

from host_names import normalize_host

# Percent-encodings an upstream could decode into a separator, a dot, an escape or NUL;
# c0/c1 start overlong UTF-8 forms of those (%c0%af = "/") and are never valid UTF-8.
FORBIDDEN_PERCENT = frozenset({b"2f", b"5c", b"2e", b"25", b"00", b"c0", b"c1"})
# Bytes no request target may carry, query included: controls, space, DEL. An HTTP/2
# :path is written into an HTTP/1 request line as is, so CR/LF/space there split it.
TARGET_CONTROL_BYTES = bytes(range(0x21)) + b"\x7f"
# Bytes no header name or value may carry (same reason: HTTP/2 -> HTTP/1 header splitting).
HEADER_BREAK_BYTES = b"\r\n\x00"
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def scheme_problem(scheme: str, port: int, in_tunnel: bool) -> str | None:
    """Why a request's scheme does not fit where it goes, or None: plain HTTP belongs to an
    absolute-form proxy request (never inside a CONNECT tunnel, where the agent chose a
    tunnel for TLS), and neither scheme belongs on the other's well-known port."""
    if scheme == "http" and in_tunnel:
        return "plain HTTP inside a CONNECT tunnel"
    if scheme == "http" and port == 443:
        return "plain HTTP to port 443"
    if scheme == "https" and port == 80:
        return "TLS to port 80"
    return None


def transfer_encoding_problem(values: list[str]) -> str | None:
    """Why a request's Transfer-Encoding is refused, or None: only exactly `chunked` (or
    none). Anything else is read differently by different servers (a desync seed)."""
    if not values or (len(values) == 1 and values[0].strip().lower() == "chunked"):
        return None
    return ", ".join(values)


def check_path(raw: bytes) -> str | None:
    """Why the path part (query already removed) of a request target is refused, or None.

    Refuses anything an upstream could decode or normalise into a path other than the
    one that is matched, so that the bytes checked are the bytes forwarded.
    """
    if not raw.startswith(b"/"):
        return "not origin-form"
    if not clean_target_bytes(raw):
        return "control, space or non-ASCII byte"
    if b"\\" in raw:
        return "backslash"
    if b"#" in raw:
        return "fragment"
    if b";" in raw:
        return "semicolon"
    if b"//" in raw:
        return "empty segment"
    pct = raw.find(b"%")
    while pct != -1:
        code = raw[pct + 1 : pct + 3]
        if len(code) != 2 or not all(c in HEX_DIGITS for c in code):
            return "malformed percent-encoding"
        if code.lower() in FORBIDDEN_PERCENT:
            return "encoded separator, dot, percent or NUL"
        pct = raw.find(b"%", pct + 3)
    for segment in raw.split(b"/"):
        if segment == b"." or segment == b"..":
            return "dot segment"
    return None


def clean_target_bytes(raw: bytes) -> bool:
    """True if `raw` is printable ASCII without space (translate runs in C, not per byte)."""
    return raw.isascii() and len(raw.translate(None, TARGET_CONTROL_BYTES)) == len(raw)


def check_query(raw: bytes) -> str | None:
    """Why the query part of a request target is refused, or None. Never matched, but
    forwarded: it must not be able to end the request line or smuggle a fragment."""
    if not clean_target_bytes(raw):
        return "control, space or non-ASCII byte in the query"
    if b"#" in raw:
        return "fragment"
    return None


def header_problem(fields: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Why a request's headers are refused, or None: CR, LF or NUL in a name or value."""
    for name, value in fields:
        for part in (name, value):
            if part.translate(None, HEADER_BREAK_BYTES) != part:
                return "CR, LF or NUL in a header"
    return None


def parse_authority(value: str) -> tuple[str, int | None] | None:
    """Split "host[:port]" as found in a Host header or :authority. None if malformed."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = value.rpartition(":")
        if not sep:
            host, port_text = value, None
        else:
            port_text = port_text_
            if ":" in host:
                return None
    if not host:
        return None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def request_query(raw_path: bytes) -> str | None:
    """The query of a request target (None when it has none), as text."""
    query = raw_path.find(b"?")
    return None if query == -1 else raw_path[query + 1 :].decode("ascii", "replace")


def target_mismatch(host: str, port: int, scheme: str, authority: bytes, host_headers: list[str], sni: str | None) -> str | None:
    """Why the names a request carries do not all name its target (`host`, normalised, and
    `port`), or None: its :authority, every Host header and, when the agent spoke TLS, the SNI
    it sent (`sni`; None without TLS). No fronting."""
    default_port = 443 if scheme == "https" else 80
    values: list[str] = []
    if authority:
        try:
            values.append(authority.decode("ascii"))
        except UnicodeDecodeError:
            return "request authority does not match the target"
    values.extend(host_headers)
    if not values:
        return "missing Host header"
    for value in values:
        parsed = parse_authority(value)
        if parsed is None or normalize_host(parsed[0]) != host or (parsed[1] or default_port) != port:
            return "Host header or :authority does not match the target"
    if sni is not None and normalize_host(sni) != host:
        return "TLS SNI does not match the target"
    return None
