"""What git's smart-HTTP requests may carry, checked before they take the bulk lane.

On the bulk lane pipelock tunnels the bytes without reading them, so the egress proxy makes
sure a git request is what git sends and nothing else: a fetch's negotiation (upload-pack:
pkt-lines of wants, haves and their options, protocol v0/v1 or v2) or a push's ref updates
followed by a pack (receive-pack). Each check returns the problem, or None and the request's
free text (capability values, ref names and prefixes, filter specs, push options): the only
agent-chosen text such a request carries beyond object ids, which pipelock's scan API reads.

Pure: no mitmproxy import. References: git's Documentation/gitprotocol-common.txt (pkt-line),
gitprotocol-pack.txt (v0/v1), gitprotocol-v2.txt, gitprotocol-http.txt.
"""

import re
import zlib
from dataclasses import dataclass

# The largest pkt-line git writes (LARGE_PACKET_MAX): 4 length digits and 65516 bytes.
MAX_PKT_LENGTH = 65520
FLUSH = b"0000"
DELIM = b"0001"
RESPONSE_END = b"0002"

OBJECT_ID = re.compile(rb"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
ZERO_ID = re.compile(rb"0+\Z")
NUMBER = re.compile(rb"[0-9]{1,20}\Z")
# A ref name, ref prefix, revision or filter spec: printable ASCII without spaces (git's own
# refname rules are stricter; this is the bound on what can travel, not a second git).
WORD = re.compile(rb"[\x21-\x7e]{1,4096}\Z")
# A capability: a name, or name=value with a printable value (server options may hold spaces).
CAPABILITY = re.compile(rb"([a-z0-9][a-z0-9_-]{0,63})(?:=([\x20-\x7e]{0,4096}))?\Z")

# Protocol v0/v1 fetch (upload-request and its negotiation), keyword -> argument.
V0_FETCH_LINES = {
    b"want": "oid",
    b"have": "oid",
    b"shallow": "oid",
    b"deepen": "number",
    b"deepen-since": "number",
    b"deepen-not": "word",
    b"filter": "word",
    b"done": None,
}
# Protocol v2 commands git sends to upload-pack, and the arguments of each (keyword -> argument).
V2_COMMANDS = {
    b"ls-refs": {b"peel": None, b"symrefs": None, b"unborn": None, b"ref-prefix": "word"},
    b"fetch": {
        b"want": "oid",
        b"have": "oid",
        b"done": None,
        b"thin-pack": None,
        b"no-progress": None,
        b"include-tag": None,
        b"ofs-delta": None,
        b"shallow": "oid",
        b"deepen": "number",
        b"deepen-relative": None,
        b"deepen-since": "number",
        b"deepen-not": "word",
        b"filter": "word",
        b"want-ref": "word",
        b"sideband-all": None,
        b"packfile-uris": "word",
        b"wait-for-done": None,
    },
    b"object-info": {b"size": None, b"oid": "oid"},
}
# Arguments whose text is the agent's choice (beyond object ids and numbers): read by DLP.
FREE_TEXT = "word"


class GitProtocolError(ValueError):
    """A request body that is not what git sends; the message names what is wrong."""


@dataclass(frozen=True)
class Checked:
    """A request that passed: its free text (for pipelock's DLP), one item per line."""

    free_text: tuple[str, ...]

    def text(self) -> str:
        return "\n".join(self.free_text)


def read_pkt(data: bytes, pos: int) -> tuple[bytes, bytes, int]:
    """The pkt-line at `pos`: (kind, payload, where the next one starts); kind is b"data",
    FLUSH, DELIM or RESPONSE_END. Raises GitProtocolError on a malformed or truncated line."""
    header = data[pos : pos + 4]
    if len(header) < 4:
        raise GitProtocolError(f"truncated pkt-line length at byte {pos}")
    if header in (FLUSH, DELIM, RESPONSE_END):
        return header, b"", pos + 4
    if re.fullmatch(rb"[0-9a-f]{4}", header) is None:
        raise GitProtocolError(f"invalid pkt-line length {_shown(header)} at byte {pos}")
    length = int(header, 16)
    if length < 5:
        raise GitProtocolError(f"invalid pkt-line length {length} at byte {pos}")
    if length > MAX_PKT_LENGTH:
        raise GitProtocolError(f"pkt-line of {length} bytes at byte {pos} (git writes at most {MAX_PKT_LENGTH})")
    if pos + length > len(data):
        raise GitProtocolError(f"truncated pkt-line at byte {pos} ({length} bytes announced, {len(data) - pos} present)")
    return b"data", data[pos + 4 : pos + length], pos + length


def pkt_lines(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every pkt-line of `data`, which must be pkt-lines to its end."""
    lines = []
    pos = 0
    while pos < len(data):
        kind, payload, pos = read_pkt(data, pos)
        lines.append((kind, payload))
    return lines


def _line(payload: bytes) -> bytes:
    """A text pkt-line's content: git ends most with LF, which carries no meaning."""
    return payload[:-1] if payload.endswith(b"\n") else payload


def _argument(kind: str | None, keyword: bytes, argument: bytes | None, free: list[str]) -> None:
    if kind is None:
        if argument is not None:
            raise GitProtocolError(f"'{keyword.decode()}' takes no argument")
        return
    if argument is None:
        raise GitProtocolError(f"'{keyword.decode()}' needs an argument")
    if kind == "oid" and OBJECT_ID.match(argument) is None:
        raise GitProtocolError(f"'{keyword.decode()}' needs an object id, got {_shown(argument)}")
    if kind == "number" and NUMBER.match(argument) is None:
        raise GitProtocolError(f"'{keyword.decode()}' needs a number, got {_shown(argument)}")
    if kind == FREE_TEXT:
        if WORD.match(argument) is None:
            raise GitProtocolError(f"'{keyword.decode()}' needs one word of printable ASCII, got {_shown(argument)}")
        free.append(argument.decode("ascii"))


def _capabilities(text: bytes, free: list[str]) -> None:
    for capability in text.split(b" "):
        if not capability:
            continue
        match = CAPABILITY.match(capability)
        if match is None:
            raise GitProtocolError(f"invalid capability {_shown(capability)}")
        if match.group(2):
            free.append(match.group(2).decode("ascii"))


def check_upload_pack_request(body: bytes) -> Checked:
    """A fetch's request to git-upload-pack: protocol v2 (`command=...` sections) or v0/v1
    (wants with capabilities, shallow/deepen/filter lines, haves, flush and done)."""
    lines = list(pkt_lines(body))
    if not lines:
        raise GitProtocolError("empty upload-pack request")
    if lines[-1][0] != FLUSH and not (lines[-1][0] == b"data" and _line(lines[-1][1]) == b"done"):
        raise GitProtocolError("the request does not end with a flush-pkt or 'done'")
    first = lines[0]
    if first[0] == b"data" and first[1].startswith(b"command="):
        return _check_v2(lines)
    return _check_v0(lines)


def _check_v0(lines: list[tuple[bytes, bytes]]) -> Checked:
    free: list[str] = []
    first_want = True
    for kind, payload in lines:
        if kind == FLUSH:
            continue
        if kind != b"data":
            raise GitProtocolError("a delim-pkt or response-end-pkt in a protocol v0 request")
        line = _line(payload)
        keyword, _, rest = line.partition(b" ")
        if keyword not in V0_FETCH_LINES:
            raise GitProtocolError(f"unexpected line {_shown(line)} in a fetch request")
        argument: bytes | None = rest if rest or b" " in line else None
        if keyword == b"want" and first_want and argument is not None and b" " in argument:
            # The first want carries the client's capabilities.
            argument, _, capabilities = argument.partition(b" ")
            _capabilities(capabilities, free)
        if keyword == b"want":
            first_want = False
        _argument(V0_FETCH_LINES[keyword], keyword, argument, free)
    return Checked(tuple(free))


def _check_v2(lines: list[tuple[bytes, bytes]]) -> Checked:
    free: list[str] = []
    i = 0
    while i < len(lines):
        kind, payload = lines[i]
        line = _line(payload)
        if kind != b"data" or not line.startswith(b"command="):
            raise GitProtocolError(f"expected 'command=<name>', got {_shown(line) if kind == b'data' else kind.decode()}")
        command = line[len(b"command=") :]
        arguments = V2_COMMANDS.get(command)
        if arguments is None:
            raise GitProtocolError(f"protocol v2 command {_shown(command)} is not a fetch (allowed: ls-refs, fetch, object-info)")
        i += 1
        # Capabilities, up to the delimiter (or straight to the flush: no arguments).
        while i < len(lines) and lines[i][0] == b"data":
            _capabilities(_line(lines[i][1]), free)
            i += 1
        if i < len(lines) and lines[i][0] == DELIM:
            i += 1
            while i < len(lines) and lines[i][0] == b"data":
                keyword, sep, rest = _line(lines[i][1]).partition(b" ")
                if keyword not in arguments:
                    raise GitProtocolError(f"unexpected argument {_shown(keyword)} to '{command.decode()}'")
                _argument(arguments[keyword], keyword, rest if sep else None, free)
                i += 1
        if i >= len(lines) or lines[i][0] != FLUSH:
            raise GitProtocolError(f"the '{command.decode()}' command does not end with a flush-pkt")
        i += 1
    return Checked(tuple(free))


@dataclass(frozen=True)
class RefUpdate:
    """One command of a push: the ref, its old and new object ids."""

    old: str
    new: str
    ref: str

    @property
    def create(self) -> bool:
        return ZERO_ID.match(self.old.encode()) is not None

    @property
    def delete(self) -> bool:
        return ZERO_ID.match(self.new.encode()) is not None


@dataclass(frozen=True)
class Push:
    """A checked push: its ref updates, and the free text (ref names, capability values,
    push options) for pipelock's DLP."""

    updates: tuple[RefUpdate, ...]
    free_text: tuple[str, ...]
    # The capabilities the client asked for (names), which shape the answer it reads.
    capabilities: frozenset[str] = frozenset()

    def text(self) -> str:
        return "\n".join(self.free_text)


def check_receive_pack_request(body: bytes) -> Push:
    """A push's request to git-receive-pack: shallow lines, the ref updates (the first with
    the capabilities) up to a flush, push options up to a flush when negotiated, then a pack,
    which every push that creates or moves a ref has and a deletion alone has not. A flush
    alone is git's probe before a large push. Signed pushes (push-cert) are refused."""
    updates: list[RefUpdate] = []
    free: list[str] = []
    asked: frozenset[str] = frozenset()
    options = False
    pos = 0
    while True:
        if pos >= len(body):
            raise GitProtocolError("the ref updates do not end with a flush-pkt" if body else "empty push request")
        kind, payload, pos = read_pkt(body, pos)
        if kind == FLUSH:
            break
        if kind != b"data":
            raise GitProtocolError("a delim-pkt or response-end-pkt in a push")
        line = _line(payload)
        if line.startswith(b"shallow ") and not updates:
            _argument("oid", b"shallow", line[len(b"shallow ") :], free)
            continue
        if line.startswith(b"push-cert"):
            raise GitProtocolError("signed pushes (push-cert) are not supported; push without --signed")
        command, nul, capabilities = line.partition(b"\0")
        if nul:
            if updates:
                raise GitProtocolError("capabilities after the first ref update")
            _capabilities(capabilities, free)
            asked = frozenset(c.partition(b"=")[0].decode("ascii") for c in capabilities.split(b" ") if c)
            options = "push-options" in asked
        updates.append(_ref_update(command, free))
    while options:
        if pos >= len(body):
            raise GitProtocolError("the push options do not end with a flush-pkt")
        kind, payload, pos = read_pkt(body, pos)
        if kind == FLUSH:
            break
        line = _line(payload)
        if kind != b"data" or not line or any(b < 0x20 or b > 0x7E for b in line):
            raise GitProtocolError(f"invalid push option {_shown(line)}")
        free.append(line.decode("ascii"))
    # The pack is most of the body: look at its header in place, never copy it.
    if any(not u.delete for u in updates):
        if not body.startswith(b"PACK", pos) or len(body) - pos < 12 or body[pos + 4 : pos + 8] not in (b"\0\0\0\x02", b"\0\0\0\x03"):
            raise GitProtocolError("the ref updates are not followed by a pack (PACK version 2 or 3)")
    elif pos < len(body):
        raise GitProtocolError("data after the ref updates of a push that only deletes")
    return Push(tuple(updates), tuple(free), asked)


def _ref_update(command: bytes, free: list[str]) -> RefUpdate:
    parts = command.split(b" ")
    if len(parts) != 3:
        raise GitProtocolError(f"invalid ref update {_shown(command)}: expected '<old-id> <new-id> <ref>'")
    old, new, ref = parts
    for oid in (old, new):
        if OBJECT_ID.match(oid) is None:
            raise GitProtocolError(f"invalid object id {_shown(oid)} in a ref update")
    if WORD.match(ref) is None or not ref.startswith(b"refs/"):
        raise GitProtocolError(f"invalid ref name {_shown(ref)}: expected refs/...")
    free.append(ref.decode("ascii"))
    return RefUpdate(old.decode(), new.decode(), ref.decode())


def decoded_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """A request body without its Content-Encoding (git gzips large fetch requests), at most
    `limit` bytes once decoded. Raises GitProtocolError on another encoding or a larger body."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise GitProtocolError(f"Content-Encoding {content_encoding!r} (git sends gzip or none)")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        decoded = decompressor.decompress(body, limit + 1)
    except zlib.error as e:
        raise GitProtocolError(f"invalid gzip body ({e})") from None
    if len(decoded) > limit or decompressor.unconsumed_tail:
        raise GitProtocolError(f"the gzip body decodes to more than {limit} bytes")
    if not decompressor.eof:
        raise GitProtocolError("truncated gzip body")
    return decoded


def _shown(raw: bytes) -> str:
    """Client bytes in a message: printable, and short."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw[:60])
    return repr(text + ("..." if len(raw) > 60 else ""))
