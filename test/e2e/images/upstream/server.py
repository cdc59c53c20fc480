"""TEST upstream: the "internet" of the end-to-end tier. HTTP/1.1 with keep-alive on :80 and
:443 (TLS), records each request (scheme, client address, method, host, path, headers, body)
as a JSON line in /var/log/upstream/requests.jsonl and answers:

  /bytes/<n>               n bytes of application/octet-stream (for downloads)
  /json/<n>                a JSON document of about n bytes
  /sse/<events>/<ms>       a text/event-stream of <events> events, <ms> apart, like a streamed
                           LLM answer (chunked)
  anything else            200 with a small JSON body naming the path
"""

import json
import os
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/var/log/upstream/requests.jsonl"
lock = threading.Lock()
CHUNK = os.urandom(64 * 1024)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    scheme = "http"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        record = {
            "scheme": self.scheme,
            "client": self.client_address[0],
            "method": self.command,
            "host": self.headers.get("Host", ""),
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body,
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        if m := re.fullmatch(r"/bytes/(\d+)", self.path):
            self._bytes(int(m[1]))
        elif m := re.fullmatch(r"/json/(\d+)", self.path):
            self._json(int(m[1]))
        elif m := re.fullmatch(r"/sse/(\d+)/(\d+)", self.path):
            self._sse(int(m[1]), int(m[2]) / 1000)
        else:
            self._send(200, "application/json", json.dumps({"upstream": "ok", "scheme": self.scheme, "path": self.path}).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _bytes(self, n: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        while n > 0:
            piece = CHUNK[: min(n, len(CHUNK))]
            self.wfile.write(piece)
            n -= len(piece)

    def _json(self, n: int) -> None:
        item = json.dumps({"name": "package", "version": "1.0.0", "description": "a json field"})
        items = ",".join([item] * max(1, n // (len(item) + 1)))
        self._send(200, "application/json", f"[{items}]".encode())

    def _sse(self, events: int, interval: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(events):
            data = json.dumps({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": "token "}})
            event = f"event: content_block_delta\ndata: {data}\n\n".encode()
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.flush()
            time.sleep(interval)
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        print(f"upstream: {self.scheme} {format % args}", flush=True)


class TlsHandler(Handler):
    scheme = "https"


def main() -> None:
    plain = ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    tls = ThreadingHTTPServer(("0.0.0.0", 443), TlsHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("/etc/upstream/leaf.pem", "/etc/upstream/leaf-key.pem")
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    print("upstream: listening on :80 (http) and :443 (https)", flush=True)
    tls.serve_forever()


if __name__ == "__main__":
    main()
