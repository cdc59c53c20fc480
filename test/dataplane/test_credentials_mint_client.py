"""The mint client's bound in time is a deadline for the whole exchange: a proxy or token
endpoint that answers slowly, a line at a time, never holds a refresher for longer."""

import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from conftest import ADDON_DIR, Pki

sys.path.insert(0, str(ADDON_DIR))
from credential_errors import CredentialError
from mint_client import MintClient


@pytest.fixture
def trickling_proxy() -> Iterator[tuple[str, int]]:
    """A proxy that accepts every CONNECT, then sends one more header line every 0.2 s, for ever."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n")
            n = 0
            while not stop.wait(0.2):
                n += 1
                try:
                    connection.sendall(b"X-Slow-%d: 1\r\n" % n)
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    server.close()
    thread.join(5)


def test_an_answer_that_trickles_in_ends_at_the_deadline(trickling_proxy: tuple[str, int], pki: Pki) -> None:
    # Each line comes within the per-read timeout; only a deadline on the whole exchange ends it.
    client = MintClient(trickling_proxy, str(pki.ca_pem), timeout=1.0)
    start = time.monotonic()
    with pytest.raises(CredentialError) as err:
        client.post("https://token.example.com/token", [], b"grant")
    assert time.monotonic() - start < 2.5
    assert str(err.value) == "token.example.com: no answer in time"
