"""The HTTP client of credential minting: one POST to a token endpoint through pipelock (the
egress proxy's upstream proxy, HTTPS via CONNECT), trusting pipelock's CA only, like agent
traffic on the inspect lane; a token host pipelock passes through unread (a Google token URL:
pipelock's body DLP would refuse the grant's JWT) presents its own certificate, checked against
the upstream leg's trust, as agent traffic to a passthrough host is. Bounded in time (a deadline for
the whole exchange) and in the answer's size.

Pure: stdlib only, no mitmproxy import (the addon passes pipelock's address and CA files in).
"""

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import NamedTuple

from credential_errors import CredentialError, bounded_reason
from egress_lanes import passthrough_host

TIMEOUT_SECONDS = 10.0
# A token endpoint's answer is a few KiB; a larger one is not read.
MAX_ANSWER_BYTES = 64 * 1024


class Answer(NamedTuple):
    """A token endpoint's answer: its status and its body (at most MAX_ANSWER_BYTES)."""

    status: int
    body: bytes


@dataclass(frozen=True)
class MintClient:
    """POSTs through `proxy` (host, port: pipelock, plain HTTP) to HTTPS endpoints whose
    certificate chains to the CA in `ca_file` (pipelock's), or, for hosts matching
    `passthrough` (pipelock's passthrough_domains), to the certificates in `passthrough_ca_file`."""

    proxy: tuple[str, int]
    ca_file: str
    passthrough: tuple[str, ...] = ()
    passthrough_ca_file: str = ""
    timeout: float = TIMEOUT_SECONDS

    def trust_for(self, host: str) -> str:
        """The CA file a token host's certificate must chain to."""
        if passthrough_host(host, self.passthrough):
            if not self.passthrough_ca_file:
                raise CredentialError(f"{host}: pipelock passes it through, but no upstream trust is set for such hosts")
            return self.passthrough_ca_file
        return self.ca_file

    def post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """The answer to one POST; CredentialError (its message bounded, never quoting a header
        or the body) when there is none."""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or 443
        target = parts.path or "/"
        deadline: _Deadline | None = None
        try:
            context = ssl.create_default_context(cafile=self.trust_for(host))
            connection = http.client.HTTPSConnection(self.proxy[0], self.proxy[1], timeout=self.timeout, context=context)
            connection.set_tunnel(host, port)
            deadline = _Deadline(connection, self.timeout)
            try:
                # A signed request (STS) names its Host itself: the signature covers it.
                named_host = any(name.lower() == "host" for name, _ in headers)
                connection.putrequest("POST", target, skip_host=named_host, skip_accept_encoding=True)
                for name, value in [*headers, ("Content-Length", str(len(body)))]:
                    connection.putheader(name, value)
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read(MAX_ANSWER_BYTES + 1)
            finally:
                deadline.end()
                connection.close()
        except ssl.SSLCertVerificationError as e:
            raise CredentialError(f"{host}: TLS not verified through pipelock ({e.verify_message})") from None
        except (OSError, http.client.HTTPException) as e:
            problem = "no answer in time" if deadline is not None and deadline.expired else _network_problem(e)
            raise CredentialError(f"{host}: {problem}") from None
        if deadline is not None and deadline.expired:  # an answer cut short at the deadline is no answer
            raise CredentialError(f"{host}: no answer in time")
        if len(data) > MAX_ANSWER_BYTES:
            raise CredentialError(f"{host}: answer larger than {MAX_ANSWER_BYTES} bytes")
        return Answer(response.status, data)


class _Deadline:
    """Ends a connection `seconds` after it starts, whatever it waits for: its timeout bounds
    each read only, so an answer (or pipelock's CONNECT answer) trickling in a line at a time
    would hold the refresher for ever. Shutting its socket down ends the read under way."""

    def __init__(self, connection: http.client.HTTPConnection, seconds: float) -> None:
        self.connection = connection
        self.expired = False
        self._ended = threading.Event()
        threading.Thread(target=self._watch, args=(seconds,), name="mint-deadline", daemon=True).start()

    def end(self) -> None:
        self._ended.set()

    def _watch(self, seconds: float) -> None:
        if self._ended.wait(seconds):
            return
        self.expired = True
        # Again until the exchange ends: the socket is replaced once, when TLS starts.
        while not self._ended.wait(0.05):
            sock = self.connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    # socket.socket's own: an SSLSocket's would drop its TLS state under the reader.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _network_problem(error: BaseException) -> str:
    """What went wrong on the way, in bounded words (a message could quote what was sent)."""
    if isinstance(error, TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(error, OSError) and "Tunnel connection failed" in str(error):
        # http.client's own words for a refused CONNECT: the status line of pipelock's answer.
        return f"pipelock refused the connection ({bounded_reason(str(error), 120)})"
    return f"cannot reach it through pipelock ({type(error).__name__})"
