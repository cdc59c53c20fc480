"""Healthcheck: exit 0 only if the proxy answers a real request with the addon's own refusal.

An open port is not enough (mitmproxy opens it before a failing addon stops it), so this
sends a proxied request for a name that can never be routed (.invalid) and expects the
addon's 403 text/plain healthcheck refusal, which it gives only once its routes are
loaded. Nothing leaves the container, and the addon writes no decision line for it.
"""

import os
import socket
import sys

from egress_routes import DEFAULT_LISTEN_PORT, HEALTHCHECK_HOST, HEALTHCHECK_MESSAGE

PROBE_HOST = HEALTHCHECK_HOST

EXPECTED = HEALTHCHECK_MESSAGE.encode()


def probe(port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> str | None:
    """None if healthy, else what was wrong."""
    request = (f"GET http://{PROBE_HOST}/ HTTP/1.1\r\nHost: {PROBE_HOST}\r\nConnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as e:
        return f"no answer on {host}:{port}: {e}"
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 403"):
        return f"unexpected status line: {lines[0][:80]!r}"
    if not any(line.lower().startswith(b"content-type: text/plain") for line in lines[1:]):
        return "refusal is not text/plain"
    if body.strip() != EXPECTED:
        return f"unexpected body: {body[:120]!r}"
    return None


def main() -> None:
    try:
        port = int(os.environ.get("EGRESS_PROXY_PORT") or DEFAULT_LISTEN_PORT)
    except ValueError:
        print("healthcheck: EGRESS_PROXY_PORT is not a number", file=sys.stderr)
        sys.exit(1)
    problem = probe(port)
    if problem is not None:
        print(f"healthcheck: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
