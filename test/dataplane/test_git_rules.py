"""git_rules.py: which ref updates a git route's push rules allow, the report git reads when a push
is refused, and which requests to a route's repositories are git's. Pure, table-driven; the
end-to-end tier pushes with real git through both gates."""

import re

import pytest

from conftest import ADDON_DIR  # noqa: F401  (puts the addon's modules on sys.path)
from git_protocol import GitProtocolError, RefUpdate, check_receive_pack_request, pkt_lines
from git_rules import EVERY_REF, PushRefusal, PushRules, check_git_request, push_refusal, ref_problem, report_body

OID = "9390190fbfb8e875cfa9df3d074756d33e36f25a"
OID2 = "de9dfd0fbe72e7b06cad8c87610922dc566688ba"
ZERO = "0" * 40
PACK = b"PACK\x00\x00\x00\x02\x00\x00\x00\x01" + b"\x00" * 20
AGENT = PushRules(("refs/heads/agent/*",), create=True, delete=False, tags=False)


def pkt(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return f"{len(data) + 4:04x}".encode() + data


def push(*updates: tuple[str, str, str], caps: str = "report-status-v2 side-band-64k quiet object-format=sha1 agent=git/2.39.5") -> bytes:
    """A push request as git sends it: the ref updates (the first with the capabilities), a flush, a pack unless it only deletes."""
    lines = [pkt(f"{old} {new} {ref}" + (f"\0 {caps}" if i == 0 else "") + "\n") for i, (old, new, ref) in enumerate(updates)]
    return b"".join(lines) + b"0000" + (b"" if all(new == ZERO for _, new, _ in updates) else PACK)


@pytest.mark.parametrize(
    ("what", "update", "rules", "problem"),
    [
        ("a new agent branch", (ZERO, OID, "refs/heads/agent/fix-1"), AGENT, None),
        ("an agent branch moved", (OID, OID2, "refs/heads/agent/fix-1"), AGENT, None),
        ("a nested agent branch (* takes /)", (OID, OID2, "refs/heads/agent/a/b"), AGENT, None),
        ("main", (OID, OID2, "refs/heads/main"), AGENT, "refs/heads/main is not in the route's push refs (refs/heads/agent/*)"),
        ("a prefix of the pattern is not a match", (OID, OID2, "refs/heads/agent"), AGENT, "refs/heads/agent is not in the route's push refs"),
        ("a branch that only starts like one", (OID, OID2, "refs/heads/agentx/y"), AGENT, "refs/heads/agentx/y is not in the route's push refs"),
        ("a delete", (OID, ZERO, "refs/heads/agent/fix-1"), AGENT, "deleting refs/heads/agent/fix-1 is not allowed (the route's pushRules have delete: false)"),
        ("a tag", (ZERO, OID, "refs/tags/v1"), PushRules(("refs/*",), True, False, False), "refs/tags/v1 is a tag (the route's pushRules have tags: false)"),
        ("a tag where tags are allowed", (ZERO, OID, "refs/tags/v1"), PushRules(("refs/tags/*",), True, False, True), None),
        ("a creation where creating is not allowed", (ZERO, OID, "refs/heads/agent/new"), PushRules(("refs/heads/agent/*",), False, False, False), "creating refs/heads/agent/new is not allowed (the route's pushRules have create: false)"),
        ("push: true allows everything", (OID, ZERO, "refs/tags/v1"), EVERY_REF, None),
        ("a pattern's dots are literal", (OID, OID2, "refs/heads/release-1x0"), PushRules(("refs/heads/release-1.0",), True, False, False), "not in the route's push refs"),
    ],
)  # fmt: skip
def test_ref_rules(what: str, update: tuple[str, str, str], rules: PushRules, problem: str | None) -> None:
    found = ref_problem(RefUpdate(*update), rules)
    if problem is None:
        assert found is None, what
    else:
        assert found is not None and problem in found, (what, found)


def report_lines(body: bytes) -> tuple[list[str], list[str]]:
    """What git reads of a refusal: the progress (band 2) lines and the report-status lines."""
    progress: list[str] = []
    data = b""
    for kind, payload in pkt_lines(body):
        if kind != b"data":
            continue
        if payload[:1] == b"\x02":
            progress.append(payload[1:].decode().rstrip("\n"))
        elif payload[:1] == b"\x01":
            data += payload[1:]
    return progress, [p.decode().rstrip("\n") for kind, p in pkt_lines(data) if kind == b"data"]


def test_a_mixed_push_is_refused_whole_in_gits_report_with_the_gate_on_the_progress_channel() -> None:
    checked = check_receive_pack_request(
        push((ZERO, OID, "refs/heads/agent/ok"), (OID, OID2, "refs/heads/main"), (ZERO, OID, "refs/tags/v1"))
    )
    refusal = push_refusal(checked, AGENT)
    assert refusal is not None
    progress, report = report_lines(report_body(refusal, "egress-proxy"))
    assert progress == [
        "egress-proxy: push refused: refs/heads/main is not in the route's push refs (refs/heads/agent/*) (and 1 more ref update)"
    ]
    assert report == [
        "unpack ok",
        "ng refs/heads/agent/ok egress-proxy: refused with the rest of the push",
        "ng refs/heads/main egress-proxy: refs/heads/main is not in the route's push refs (refs/heads/agent/*)",
        "ng refs/tags/v1 egress-proxy: refs/tags/v1 is a tag (the route's pushRules have tags: false)",
    ]


def test_the_report_follows_what_the_client_asked_for() -> None:
    def refused(caps: str) -> PushRefusal | None:
        return push_refusal(check_receive_pack_request(push((OID, OID2, "refs/heads/main"), caps=caps)), AGENT)

    # No side band: the report's pkt-lines as they are.
    plain = refused("report-status")
    assert plain is not None
    assert [p for k, p in pkt_lines(report_body(plain, "egress-proxy")) if k == b"data"][:1] == [b"unpack ok\n"]
    # No report at all: git's ERR line, which git prints as a remote error.
    bare = refused("quiet")
    assert bare is not None
    assert pkt_lines(report_body(bare, "egress-proxy")) == [
        (b"data", b"ERR egress-proxy: push refused: refs/heads/main is not in the route's push refs (refs/heads/agent/*)\n")
    ]


def test_an_allowed_push_and_gits_probe_are_not_refused() -> None:
    assert push_refusal(check_receive_pack_request(push((ZERO, OID, "refs/heads/agent/x"))), AGENT) is None
    assert push_refusal(check_receive_pack_request(b"0000"), AGENT) is None  # git's probe before a large push


@pytest.mark.parametrize(
    ("what", "service", "method", "query", "body", "rules", "problem"),
    [
        ("ref discovery for a fetch", "info/refs", "GET", "service=git-upload-pack", b"", None, None),
        ("ref discovery for a push the route allows", "info/refs", "GET", "service=git-receive-pack", b"", AGENT, None),
        ("ref discovery for a push the route does not allow", "info/refs", "GET", "service=git-receive-pack", b"", None, "ref discovery other than GET info/refs?service=git-upload-pack"),
        ("git's dumb protocol (no service)", "info/refs", "GET", None, b"", AGENT, "ref discovery other than"),
        ("ref discovery with more in its query", "info/refs", "GET", "service=git-upload-pack&x=1", b"", AGENT, "ref discovery other than"),
        ("ref discovery with a body", "info/refs", "GET", "service=git-upload-pack", b"0000", AGENT, "ref discovery other than"),
        ("a fetch by GET", "git-upload-pack", "GET", None, b"", AGENT, "GET git-upload-pack (git POSTs it)"),
        ("a fetch that is not git's", "git-upload-pack", "POST", None, b"0010hello, world0000", AGENT, "unexpected line"),
        ("a push on a fetch-only route", "git-receive-pack", "POST", None, push((ZERO, OID, "refs/heads/agent/x")), None, "a push on a route that does not push"),
        ("a push that is not git's", "git-receive-pack", "POST", None, b"0008junk0000", AGENT, "invalid ref update"),
    ],
)  # fmt: skip
def test_what_a_git_route_lets_through(
    what: str, service: str, method: str, query: str | None, body: bytes, rules: PushRules | None, problem: str | None
) -> None:
    if problem is None:
        assert check_git_request(service, method, query, body, rules).refusal is None, what
    else:
        with pytest.raises(GitProtocolError, match=re.escape(problem)):
            check_git_request(service, method, query, body, rules)


def test_a_checked_push_carries_its_free_text_and_its_refusal() -> None:
    checked = check_git_request("git-receive-pack", "POST", None, push((OID, OID2, "refs/heads/main")), AGENT)
    assert "refs/heads/main" in checked.free_text
    assert checked.refusal is not None and checked.refusal.summary.startswith("refs/heads/main is not in")
