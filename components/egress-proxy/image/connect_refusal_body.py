"""The body of the next gate's refusal of a CONNECT, which mitmproxy drops.

In upstream mode mitmproxy opens each tunnel with a CONNECT to pipelock. When pipelock refuses
it, mitmproxy's HttpUpstreamProxy.receive_handshake_data turns the answer into an error naming
only its status ("refused HTTP CONNECT request: 403 Forbidden"), while pipelock's one line of
reason ("CONNECT blocked: domain not in allowlist: example.org") is still in the layer's
buffer. This module wraps that one method to keep those bytes, keyed by the tunnelled server
connection's id (flow.server_conn.id in the request and error hooks), so the agent's refusal
quotes pipelock's own words instead of guessing among its reasons. The method's result is
returned as it was; the one change: a refusal whose short body (announced by Content-Length)
has not all arrived with its head waits for the rest, as the method waits for a head.

Checked against mitmproxy 11.0.2 (the host's data-plane venv) and 12.3.1 (the image): the
method, its buffer and its error text are the same in both. test_connect_refusals.py (pipelock's
own reason, in curl, git and Python) fails if a later version moves them (pipelock's words would
no longer reach the agent).

Bounded: at most MAX_KEPT refusals are held (each at most MAX_BODY_BYTES), the oldest dropped
first, and each is taken once.
"""

from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from mitmproxy.proxy.layers.http import _upstream_proxy

REFUSED_MARK = "refused HTTP CONNECT request: "
MAX_KEPT = 256
MAX_BODY_BYTES = 1024


@dataclass(frozen=True)
class RefusedConnect:
    status: str  # "403 Forbidden", as mitmproxy's error names it
    body: bytes  # what arrived of the answer's body with its head (possibly nothing)


_kept: "OrderedDict[str, RefusedConnect]" = OrderedDict()


def take(server_conn_id: str) -> RefusedConnect | None:
    """The refusal kept for this server connection, once; None if there is none."""
    return _kept.pop(server_conn_id, None)


def _keep(server_conn_id: str, refused: RefusedConnect) -> None:
    _kept[server_conn_id] = refused
    while len(_kept) > MAX_KEPT:
        _kept.popitem(last=False)


def announced_body_pending(received: bytes) -> bool:
    """Whether `received` is the whole head of a refusal (not 2xx) whose body, announced at most
    MAX_BODY_BYTES long, has not all arrived yet."""
    head, complete, body = received.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if not complete or len(status) < 2 or status[1].startswith(b"2"):
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = value.strip()
            return length.isdigit() and len(body) < int(length) <= MAX_BODY_BYTES
    return False


def install() -> None:
    """Wrap HttpUpstreamProxy.receive_handshake_data (once per process)."""
    layer = _upstream_proxy.HttpUpstreamProxy
    original = layer.receive_handshake_data
    if getattr(original, "_keeps_refusal_body", False):
        return

    def receive_handshake_data(self: Any, data: bytes) -> Generator[Any, Any, tuple[bool, str | None]]:
        if getattr(self, "send_connect", False) and announced_body_pending(bytes(getattr(self, "buf", b"")) + data):
            self.buf += data
            return False, None
        done, error = yield from original(self, data)
        if not done and error is not None and REFUSED_MARK in error:
            body = bytes(getattr(self, "buf", b""))[:MAX_BODY_BYTES]
            _keep(self.conn.id, RefusedConnect(error.rsplit(REFUSED_MARK, 1)[1], body))
        return done, error

    receive_handshake_data._keeps_refusal_body = True  # type: ignore[attr-defined]
    layer.receive_handshake_data = receive_handshake_data  # type: ignore[method-assign]
