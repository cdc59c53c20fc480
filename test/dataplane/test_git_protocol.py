"""git_protocol.py: what a git request taking the bulk lane may carry. Pure, table-driven; the
valid bodies are what git 2.39 sends (captured from `git clone`/`git push` against
`git http-backend`), the end-to-end tier runs real git through both gates."""

import gzip
import zlib

import pytest

from conftest import ADDON_DIR  # noqa: F401  (puts the addon's modules on sys.path)
from git_protocol import (
    GitProtocolError,
    check_receive_pack_request,
    check_upload_pack_request,
    decoded_body,
    pkt_lines,
)

OID = "9390190fbfb8e875cfa9df3d074756d33e36f25a"
OID2 = "de9dfd0fbe72e7b06cad8c87610922dc566688ba"
ZERO = "0" * 40
PACK = b"PACK\x00\x00\x00\x02\x00\x00\x00\x01" + b"\x00" * 20


def pkt(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return f"{len(data) + 4:04x}".encode() + data


# git 2.39's own requests.
V0_CLONE = (
    pkt(f"want {OID} multi_ack_detailed no-done side-band-64k thin-pack no-progress ofs-delta deepen-since deepen-not agent=git/2.39.5\n")
    + b"0000"
    + pkt("done\n")
)
V2_LS_REFS = (
    pkt("command=ls-refs\n") + pkt("agent=git/2.39.5") + pkt("object-format=sha1") + b"0001"
    + pkt("peel\n") + pkt("symrefs\n") + pkt("unborn\n") + pkt("ref-prefix HEAD\n") + pkt("ref-prefix refs/heads/\n") + b"0000"
)  # fmt: skip
V2_SHALLOW_FETCH = (
    pkt("command=fetch") + pkt("agent=git/2.39.5") + pkt("object-format=sha1") + b"0001"
    + pkt("thin-pack") + pkt("no-progress") + pkt("include-tag") + pkt("ofs-delta") + pkt("deepen 1")
    + pkt(f"want {OID}\n") + pkt("done\n") + b"0000"
)  # fmt: skip
V2_PARTIAL_FETCH = (
    pkt("command=fetch") + pkt("agent=git/2.39.5") + b"0001" + pkt("filter blob:none") + pkt(f"want {OID}\n")
    + pkt(f"have {OID2}\n") + pkt("done\n") + b"0000"
)  # fmt: skip
V0_NEGOTIATION = (
    pkt(f"want {OID} ofs-delta agent=git/2.39.5\n")
    + pkt(f"shallow {OID2}\n")
    + pkt("deepen 3\n")
    + b"0000"
    + pkt(f"have {OID2}\n")
    + b"0000"
)


@pytest.mark.parametrize(
    ("what", "body", "free"),
    [
        ("v0 clone", V0_CLONE, ("git/2.39.5",)),
        ("v0 negotiation round (haves, then a flush)", V0_NEGOTIATION, ("git/2.39.5",)),
        ("v2 ls-refs", V2_LS_REFS, ("git/2.39.5", "sha1", "HEAD", "refs/heads/")),
        ("v2 shallow fetch", V2_SHALLOW_FETCH, ("git/2.39.5", "sha1")),
        ("v2 partial fetch", V2_PARTIAL_FETCH, ("git/2.39.5", "blob:none")),
        ("v2 command without arguments", pkt("command=ls-refs") + b"0000", ()),
    ],
)
def test_what_git_sends_to_upload_pack_passes_with_its_free_text(what: str, body: bytes, free: tuple[str, ...]) -> None:
    assert check_upload_pack_request(body).free_text == free, what


@pytest.mark.parametrize(
    ("what", "body", "problem"),
    [
        ("empty", b"", "empty upload-pack request"),
        ("free text", pkt("hello, world") + b"0000", "unexpected line 'hello, world'"),
        ("length not hex", b"00zzwant", "invalid pkt-line length"),
        ("length below 4", b"0003", "invalid pkt-line length 3"),
        ("length 4 (an empty line git never sends)", b"0004" + b"0000", "invalid pkt-line length 4"),
        ("over-long line", b"fff1" + b"x" * 65600, "pkt-line of 65521 bytes"),
        ("truncated line", pkt(f"want {OID}")[:-3], "truncated pkt-line at byte 0"),
        ("truncated length", pkt(f"want {OID}\n") + b"00", "truncated pkt-line length"),
        ("no flush or done at the end", pkt(f"want {OID}\n"), "does not end with a flush-pkt or 'done'"),
        ("short object id", pkt("want 9390190f\n") + b"0000", "needs an object id"),
        ("uppercase object id", pkt(f"want {OID.upper()}\n") + b"0000", "needs an object id"),
        ("object id with data after it", pkt(f"have {OID} hello\n") + b"0000", "needs an object id"),
        ("done with an argument", pkt("done now\n") + b"0000", "'done' takes no argument"),
        ("depth not a number", pkt(f"want {OID}\n") + pkt("deepen many\n") + b"0000", "needs a number"),
        ("capability with a control byte", pkt(f"want {OID} agent=git\x01\n") + b"0000", "invalid capability"),
        ("delim in a v0 request", pkt(f"want {OID}\n") + b"0001" + b"0000", "delim-pkt or response-end-pkt"),
        ("v2 command upload-pack does not fetch with", pkt("command=push") + b"0000", "is not a fetch"),
        ("v2 argument of another command", pkt("command=ls-refs") + b"0001" + pkt(f"want {OID}") + b"0000", "unexpected argument 'want'"),
        ("v2 section without its flush", pkt("command=ls-refs") + b"0001" + pkt("peel") + b"0001" + b"0000", "does not end with a flush-pkt"),
        ("v2 ref prefix with spaces", pkt("command=ls-refs") + b"0001" + pkt("ref-prefix a b") + b"0000", "one word of printable ASCII"),
    ],
)  # fmt: skip
def test_anything_else_sent_to_upload_pack_is_refused(what: str, body: bytes, problem: str) -> None:
    with pytest.raises(GitProtocolError, match=problem):
        check_upload_pack_request(body)


def test_pkt_lines_reads_flush_delim_and_response_end() -> None:
    assert pkt_lines(pkt("a") + b"0000" + b"0001" + b"0002") == [(b"data", b"a"), (b"0000", b""), (b"0001", b""), (b"0002", b"")]


def caps(extra: str = "") -> str:
    return f"\0 report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5{extra}"


@pytest.mark.parametrize(
    ("what", "body", "updates", "free"),
    [
        ("a new branch", pkt(f"{ZERO} {OID2} refs/heads/agent/one{caps()}") + b"0000" + PACK, [(True, False, "refs/heads/agent/one")], ("sha1", "git/2.39.5", "refs/heads/agent/one")),
        ("an update of two refs", pkt(f"{OID} {OID2} refs/heads/a{caps()}") + pkt(f"{OID} {OID2} refs/heads/b\n") + b"0000" + PACK, [(False, False, "refs/heads/a"), (False, False, "refs/heads/b")], ("sha1", "git/2.39.5", "refs/heads/a", "refs/heads/b")),
        ("a deletion (no pack)", pkt(f"{OID2} {ZERO} refs/heads/agent/one{caps()}") + b"0000", [(False, True, "refs/heads/agent/one")], ("sha1", "git/2.39.5", "refs/heads/agent/one")),
        ("push options", pkt(f"{ZERO} {OID2} refs/heads/x{caps(' push-options')}") + b"0000" + pkt("ci.skip") + b"0000" + PACK, [(True, False, "refs/heads/x")], ("sha1", "git/2.39.5", "refs/heads/x", "ci.skip")),
        ("from a shallow clone", pkt(f"shallow {OID}") + pkt(f"{OID} {OID2} refs/heads/x{caps()}") + b"0000" + PACK, [(False, False, "refs/heads/x")], ("sha1", "git/2.39.5", "refs/heads/x")),
        ("git's probe before a large push", b"0000", [], ()),
    ],
)  # fmt: skip
def test_what_git_sends_to_receive_pack_passes(
    what: str, body: bytes, updates: list[tuple[bool, bool, str]], free: tuple[str, ...]
) -> None:
    push = check_receive_pack_request(body)
    assert [(u.create, u.delete, u.ref) for u in push.updates] == updates, what
    assert push.free_text == free, what


@pytest.mark.parametrize(
    ("what", "body", "problem"),
    [
        ("empty", b"", "empty push request"),
        ("no flush after the updates", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}"), "do not end with a flush-pkt"),
        ("no pack after an update", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}") + b"0000", "not followed by a pack"),
        ("not a pack", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}") + b"0000" + b"JUNK" * 5, "not followed by a pack"),
        ("a pack version git does not write", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}") + b"0000" + b"PACK\0\0\0\x09" + b"\0" * 20, "not followed by a pack"),
        ("data after a deletion", pkt(f"{OID2} {ZERO} refs/heads/x{caps()}") + b"0000" + b"extra", "data after the ref updates"),
        ("a ref outside refs/", pkt(f"{ZERO} {OID2} HEAD{caps()}") + b"0000" + PACK, "expected refs/"),
        ("a short object id", pkt(f"{ZERO} 1234 refs/heads/x{caps()}") + b"0000" + PACK, "invalid object id"),
        ("two words only", pkt(f"{ZERO} refs/heads/x{caps()}") + b"0000" + PACK, "expected '<old-id> <new-id> <ref>'"),
        ("capabilities twice", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}") + pkt(f"{ZERO} {OID2} refs/heads/y{caps()}") + b"0000" + PACK, "capabilities after the first"),
        ("a signed push", pkt(f"push-cert{caps()}") + b"0000", "signed pushes"),
        ("push options never ending", pkt(f"{ZERO} {OID2} refs/heads/x{caps(' push-options')}") + b"0000" + pkt("ci.skip"), "push options do not end"),
        ("a push option with a control byte", pkt(f"{ZERO} {OID2} refs/heads/x{caps(' push-options')}") + b"0000" + pkt("a\x01b") + b"0000" + PACK, "invalid push option"),
        ("a delim", pkt(f"{ZERO} {OID2} refs/heads/x{caps()}") + b"0001" + b"0000" + PACK, "delim-pkt"),
    ],
)  # fmt: skip
def test_anything_else_sent_to_receive_pack_is_refused(what: str, body: bytes, problem: str) -> None:
    with pytest.raises(GitProtocolError, match=problem):
        check_receive_pack_request(body)


def test_a_gzipped_fetch_is_read_decoded_and_bounded() -> None:
    assert decoded_body(gzip.compress(V0_CLONE), "gzip", 1 << 20) == V0_CLONE
    assert decoded_body(V0_CLONE, "", 1 << 20) == V0_CLONE
    assert decoded_body(V0_CLONE, "identity", 1 << 20) == V0_CLONE
    bomb = gzip.compress(b"0" * (2 << 20))
    with pytest.raises(GitProtocolError, match="decodes to more than"):
        decoded_body(bomb, "gzip", 1 << 20)
    with pytest.raises(GitProtocolError, match="truncated gzip"):
        decoded_body(gzip.compress(V0_CLONE)[:-12], "gzip", 1 << 20)
    with pytest.raises(GitProtocolError, match="invalid gzip"):
        decoded_body(b"not gzip at all", "gzip", 1 << 20)
    with pytest.raises(GitProtocolError, match="git sends gzip or none"):
        decoded_body(zlib.compress(V0_CLONE), "deflate", 1 << 20)
