"""What a git route lets through, at the level of git's own requests: which refs a push may
update, create or delete, and that every request to the route's repositories is what git sends.

A push is refused whole, before a byte reaches the host, when any of its ref updates falls
outside the route's rules; the refusal is git's own report (every ref `ng` with the reason, the
gate's line on the progress channel), so `git push` and the agent read it where they read a
server hook's. Pure: no mitmproxy import.
"""

import re
from dataclasses import dataclass

from git_protocol import FLUSH, GitProtocolError, Push, RefUpdate, check_receive_pack_request, check_upload_pack_request

# Ref patterns as routes.yaml gives them: a full ref under refs/, `*` for any characters.
REF_PATTERN = re.compile(r"refs/[A-Za-z0-9._/*+-]+\Z")
TAGS = "refs/tags/"
# Side-band channels (gitprotocol-pack.txt): 1 the data (here: the report), 2 progress text.
DATA_BAND = b"\x01"
PROGRESS_BAND = b"\x02"


@dataclass(frozen=True)
class PushRules:
    """The refs a route lets the agent push (patterns), and whether it may create, delete or tag."""

    refs: tuple[str, ...]
    create: bool
    delete: bool
    tags: bool

    def matches(self, ref: str) -> bool:
        return any(_glob(pattern).match(ref) for pattern in self.refs)

    def describe(self) -> str:
        """As a refusal names the rules: `refs/heads/agent/*; no deletes; no tags`."""
        return "; ".join(
            [
                ", ".join(self.refs),
                *(["no creations"] if not self.create else []),
                *(["no deletes"] if not self.delete else []),
                *(["no tags"] if not self.tags else []),
            ]
        )


# `push: true`: what a token with write access can do.
EVERY_REF = PushRules(("refs/*",), create=True, delete=True, tags=True)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


def ref_problem(update: RefUpdate, rules: PushRules) -> str | None:
    """Why the rules refuse one ref update, or None."""
    if update.delete and not rules.delete:
        return f"deleting {update.ref} is not allowed (the route's pushRules have delete: false)"
    if update.ref.startswith(TAGS) and not rules.tags:
        return f"{update.ref} is a tag (the route's pushRules have tags: false)"
    if update.create and not rules.create:
        return f"creating {update.ref} is not allowed (the route's pushRules have create: false)"
    if not rules.matches(update.ref):
        return f"{update.ref} is not in the route's push refs ({', '.join(rules.refs)})"
    return None


@dataclass(frozen=True)
class PushRefusal:
    """A push the rules refuse: the reason of each ref update (None: allowed on its own)."""

    updates: tuple[RefUpdate, ...]
    problems: tuple[str | None, ...]
    capabilities: frozenset[str]

    @property
    def summary(self) -> str:
        """One line for the log and the agent: the first refused ref and its rule."""
        first = next(p for p in self.problems if p is not None)
        others = sum(p is not None for p in self.problems) - 1
        return first + (f" (and {others} more ref update{'s' if others > 1 else ''})" if others else "")


def push_refusal(push: Push, rules: PushRules) -> PushRefusal | None:
    """The refusal of a checked push under `rules`, or None when every ref update is allowed."""
    problems = tuple(ref_problem(u, rules) for u in push.updates)
    if all(p is None for p in problems):
        return None
    return PushRefusal(push.updates, problems, push.capabilities)


def _pkt(payload: bytes) -> bytes:
    return f"{len(payload) + 4:04x}".encode() + payload


def report_body(refusal: PushRefusal, gate: str) -> bytes:
    """git-receive-pack's answer refusing every ref update of the push (`unpack ok`, then `ng`
    per ref: the refused ones with their rule, the others because the push is refused whole),
    in the side band when the client asked for one, with `gate: <summary>` on the progress
    channel. Without report-status the client gets git's ERR line instead."""
    line = f"{gate}: push refused: {refusal.summary}"
    if not refusal.capabilities & {"report-status", "report-status-v2"}:
        return _pkt(f"ERR {line}\n".encode())
    report = _pkt(b"unpack ok\n")
    for update, problem in zip(refusal.updates, refusal.problems, strict=True):
        reason = f"{gate}: {problem}" if problem is not None else f"{gate}: refused with the rest of the push"
        report += _pkt(f"ng {update.ref} {reason}\n".encode())
    report += FLUSH
    if not refusal.capabilities & {"side-band-64k", "side-band"}:
        return report
    size = 65515 if "side-band-64k" in refusal.capabilities else 995
    chunks = [report[i : i + size] for i in range(0, len(report), size)]
    return _pkt(PROGRESS_BAND + f"{line}\n".encode()) + b"".join(_pkt(DATA_BAND + c) for c in chunks) + FLUSH


@dataclass(frozen=True)
class GitCheck:
    """What a request to a route's repositories carries: its free text (for pipelock's DLP on the
    bulk lane), or the push refusal to answer it with."""

    free_text: str = ""
    refusal: PushRefusal | None = None


def ref_discovery_queries(push: PushRules | None) -> list[str]:
    """The queries of git's ref discovery a route answers: fetch's, and push's when it pushes."""
    return ["service=git-upload-pack"] + (["service=git-receive-pack"] if push is not None else [])


def check_git_request(service: str, method: str, query: str | None, body: bytes, push: PushRules | None) -> GitCheck:
    """Checks a request to one of a route's repositories (`service`: info/refs, git-upload-pack or
    git-receive-pack; `body` without its Content-Encoding). Raises GitProtocolError when it is not
    what git sends: ref discovery of another service, or without one (git's dumb protocol), a
    body that is not git's negotiation or push."""
    if service == "info/refs":
        allowed = ref_discovery_queries(push)
        if method not in ("GET", "HEAD") or body or query not in allowed:
            raise GitProtocolError(f"ref discovery other than {' or '.join(f'GET info/refs?{a}' for a in allowed)}")
        return GitCheck()
    if method != "POST":
        raise GitProtocolError(f"{method} {service} (git POSTs it)")
    if service == "git-upload-pack":
        return GitCheck(check_upload_pack_request(body).text())
    if push is None:
        raise GitProtocolError("a push on a route that does not push")
    checked = check_receive_pack_request(body)
    return GitCheck(checked.text(), push_refusal(checked, push))
