"""Which way out a request takes: the inspect lane or the bulk lane.

On the inspect lane pipelock intercepts TLS and reads the request and its answer whole before
passing them on. On the bulk lane pipelock-bulk checks the host and tunnels the bytes; the
egress proxy has pipelock's scan API read what can be read of them (the URL, sensitive headers,
the free text of a git request, the text of an answer as it passes). A route's `bulk` list in
routes.yaml names the kinds of its traffic that may take the bulk lane:

- `git`: git's smart HTTP to the route's repositories: ref discovery (GET info/refs of the
  upload-pack service, or of receive-pack when the route may push), fetch (POST
  git-upload-pack) and push (POST git-receive-pack, when the route may push), each with git's
  own content type. Its bodies are checked to be git's (git_protocol.py).
- `downloads`: GET and HEAD without a body that do not ask for an event stream.

Everything else takes the inspect lane. On either lane an answer is streamed to the agent as
it arrives (`streamed`), unless it announces a short length. Pure: no mitmproxy import.
"""

from dataclasses import dataclass

from git_rules import PushRules, ref_discovery_queries

BULK_KINDS = frozenset({"git", "downloads"})
GIT_SERVICES = ("info/refs", "git-upload-pack", "git-receive-pack")
GIT_CONTENT_TYPES = {
    "git-upload-pack": "application/x-git-upload-pack-request",
    "git-receive-pack": "application/x-git-receive-pack-request",
}
# Encodings of an answer the egress proxy can decode (boundedly) to have its text scanned.
DECODABLE_ENCODINGS = frozenset({"gzip", "deflate", "identity"})
# Media types of answers whose text pipelock's answer scanning reads (besides text/*).
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-ndjson",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/x-www-form-urlencoded",
    }
)
# An answer that announces at most this many bytes is held whole and sent on at once, as
# mitmproxy does below its stream_large_bodies: it cannot make the agent wait long, and
# streaming it costs mitmproxy a log record, a write and a state more per answer (most of
# what the egress proxy cost per request: test/dataplane/BENCHMARKS.md).
HELD_ANSWER_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class GitRoute:
    """A route's git repositories (`owner/name`, without .git) and what it may push (None: nothing)."""

    repositories: tuple[str, ...]
    push: PushRules | None


@dataclass(frozen=True)
class Lane:
    """Where a request goes: `bulk` or not, and what kind of traffic it is (for the log and
    for which checks its body gets): inspect, git-refs, git-fetch, git-push or download."""

    bulk: bool
    kind: str

    @property
    def name(self) -> str:
        """As the decision log shows it: `inspect`, or `bulk/<kind>`."""
        return f"bulk/{self.kind}" if self.bulk else self.kind


INSPECT = Lane(False, "inspect")
GIT_REFS = Lane(True, "git-refs")
GIT_FETCH = Lane(True, "git-fetch")
GIT_PUSH = Lane(True, "git-push")
DOWNLOAD = Lane(True, "download")


def git_service(path: str, git: GitRoute) -> str | None:
    """The git service a path asks one of the route's repositories for, or None."""
    for repo in git.repositories:
        for base in (f"/{repo}.git/", f"/{repo}/"):
            if path.startswith(base) and path[len(base) :] in GIT_SERVICES:
                return path[len(base) :]
    return None


def choose_lane(
    bulk: frozenset[str],
    git: GitRoute | None,
    method: str,
    path: str,
    query: str | None,
    content_type: str,
    accept: str,
    has_body: bool,
) -> Lane:
    """The lane of a request its route (`bulk`, `git`) allowed. `path` is without the query;
    `query` is None when the target has none."""
    if "git" in bulk and git is not None:
        service = git_service(path, git)
        media = media_type(content_type)
        if service == "info/refs" and method in ("GET", "HEAD") and not has_body:
            if query in ref_discovery_queries(git.push):
                return GIT_REFS
        elif service == "git-upload-pack" and method == "POST" and media == GIT_CONTENT_TYPES[service]:
            return GIT_FETCH
        elif service == "git-receive-pack" and method == "POST" and git.push is not None and media == GIT_CONTENT_TYPES[service]:
            return GIT_PUSH
    if "downloads" in bulk and method in ("GET", "HEAD") and not has_body and not asks_for_event_stream(accept):
        return DOWNLOAD
    return INSPECT


def media_type(content_type: str) -> str:
    """`application/json` of `Application/JSON; charset=utf-8`."""
    return content_type.split(";", 1)[0].strip().lower()


def asks_for_event_stream(accept: str) -> bool:
    """Whether the client wants an event stream, which pipelock reads event by event (and can
    stop mid-stream) on the inspect lane."""
    return any(media_type(part) == "text/event-stream" for part in accept.split(","))


def is_text(content_type: str) -> bool:
    """Whether an answer of this type is text that pipelock's answer scanning can read."""
    media = media_type(content_type)
    if media.startswith("text/") or media in TEXT_MEDIA_TYPES:
        return True
    subtype = media.rpartition("/")[2]
    return subtype.endswith("+json") or subtype.endswith("+xml")


# Answers that arrive event by event: each is passed on as it comes, whatever its length.
EVENT_STREAMS = frozenset({"text/event-stream", "application/vnd.amazon.eventstream"})


def streamed(content_type: str, content_length: str) -> bool:
    """Whether an answer with these headers is passed on as it arrives: an event stream (an LLM
    answer, as SSE or Bedrock's AWS event stream) or one whose length is unknown or large (a
    download need not fit in memory)."""
    if media_type(content_type) in EVENT_STREAMS:
        return True
    return not announced_at_most(content_length, HELD_ANSWER_MAX_BYTES)


def announced_at_most(content_length: str, limit: int) -> bool:
    """Whether a Content-Length announces at most `limit` bytes (False when absent or not a number)."""
    return content_length.isascii() and content_length.isdigit() and int(content_length) <= limit


def decodable_accept_encoding(value: str) -> str:
    """The agent's Accept-Encoding with only the codings the egress proxy decodes for scanning
    (so an answer never arrives in one it cannot read); `identity` when none is left."""
    kept = [part.strip() for part in value.split(",") if part.split(";", 1)[0].strip().lower() in DECODABLE_ENCODINGS]
    return ", ".join(kept) if kept else "identity"


def passthrough_host(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether pipelock passes `host` through uninspected: an exact entry, or `*.suffix`
    matching a subdomain (not the suffix itself), as pipelock 2.3 matches its passthrough_domains."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False
