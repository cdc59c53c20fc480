"""TEST upstream: the "internet" of the end-to-end tier. HTTP/1.1 with keep-alive on :80 and
:443 (TLS), records each request (arrival time, scheme, client address, method, host, path,
headers, body) as a JSON line in /var/log/upstream/requests.jsonl and answers:

  /bytes/<n>               n bytes of application/octet-stream (for downloads)
  /json/<n>                a JSON document of about n bytes
  /sse/<events>/<ms>       a text/event-stream of <events> events, <ms> apart, like a streamed
                           LLM answer (chunked)
  /gated/<n>/<marker>      n bytes of application/octet-stream, the second half only once
                           /open/<marker> was asked for (or after 60 s): a gate that holds a whole
                           answer before passing it on delivers nothing until then
  /gated-sse/<marker>      an event stream: one event, the gate, the last event
  /open/<marker>           opens that gate
  /say/<text>              a JSON document {"text": <text, percent-decoded>}
  POST /v1/messages        a fake Anthropic Messages API: one short answer, streamed (SSE) when
                           the request asks for it
  git smart HTTP           on git.* and ro.* hosts: `git http-backend` over /srv/git, where
                           acme/app and acme/other are repositories (pushes accepted) and acme/big
                           one of 20 MiB (make-repo makes more, as the benchmark's acme/huge); a
                           request with a GitHub App installation token must have one the fake
                           GitHub issued for that repository (github_fakes.git_access)
  github-api.*             a GitHub App's token endpoint and a GitHub-shaped API (github_fakes.py)
  oauth2.*                 Google's token endpoint for service accounts (google_fakes.py)
  aiplatform.*             Vertex AI's rawPredict/streamRawPredict for Anthropic models: the fake
                           Messages API's answer, for a token oauth2.* issued (google_fakes.py)
  sts.*, bedrock-runtime.*, bedrock-static.*   AWS STS's AssumeRole and Bedrock's runtime, SigV4
                           checked against the test's AWS key and the sessions issued (aws_fakes.py)
  anything else            200 with a small JSON body naming the path

What a fake verified (or refused) is recorded with the request, as `verified`.
"""

import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import github_fakes
import google_fakes
from aws_fakes import AwsFakes
from fake_http import Answer, Request, load_credentials

LOG = "/var/log/upstream/requests.jsonl"
GIT_ROOT = "/srv/git"
# /<owner>/<name>[.git]/<service>: the smart-HTTP requests git makes.
GIT_PATH = re.compile(r"^/([A-Za-z0-9._-]+/[A-Za-z0-9._-]+?)(\.git)?/(info/refs|git-upload-pack|git-receive-pack)$")
# What the fake Messages API answers, whatever it is asked.
ANSWER = "Hello from the bottled test API."
lock = threading.Lock()
CHUNK = os.urandom(64 * 1024)
# The hosts the fake AWS answers for, by their first label: a second Bedrock host for the static keys' route.
AWS_SERVICES = ("sts", "bedrock-runtime", "bedrock-static")


def aws_of_test() -> AwsFakes:
    """The fake AWS, knowing the test's long-lived key (none: it refuses every signature)."""
    keys = load_credentials("aws")
    return AwsFakes({keys["access_key_id"]: keys["secret_access_key"]} if keys else {})


aws = aws_of_test()
# The gates of /gated answers, by marker; /open/<marker> opens one.
gates: dict[str, threading.Event] = {}
GATE_SECONDS = 60


def gate(marker: str) -> threading.Event:
    with lock:
        return gates.setdefault(marker, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    scheme = "http"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        raw = self._body()
        path, _, query = self.path.partition("?")
        host = self.headers.get("Host", "").split(":")[0]
        git = GIT_PATH.search(path)
        request = Request(self.command, host, path, query, list(self.headers.items()), raw)
        answer, verified = self._fake(request, git)
        body = f"<{len(raw)} bytes of git>" if git else raw.decode("utf-8", "replace")
        record = {
            "at": time.time(),  # when the request had arrived whole (epoch seconds)
            "scheme": self.scheme,
            "client": self.client_address[0],
            "method": self.command,
            "host": self.headers.get("Host", ""),
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body,
            **({"verified": verified} if verified else {}),
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        if answer is not None:
            self._answer(answer)
        elif host.startswith(("git.", "ro.")) and git:
            self._git(raw)
        elif host.startswith("aiplatform."):
            self._messages(raw, stream=path.endswith(":streamRawPredict"))
        elif self.command == "POST" and self.path.split("?")[0] == "/v1/messages":
            self._messages(raw)
        elif m := re.fullmatch(r"/bytes/(\d+)", self.path):
            self._bytes(int(m[1]))
        elif m := re.fullmatch(r"/json/(\d+)", self.path):
            self._json(int(m[1]))
        elif m := re.fullmatch(r"/sse/(\d+)/(\d+)", self.path):
            self._sse(int(m[1]), int(m[2]) / 1000)
        elif m := re.fullmatch(r"/gated/(\d+)/([a-z0-9-]+)", self.path):
            self._bytes(int(m[1]), gate(m[2]))
        elif m := re.fullmatch(r"/gated-sse/([a-z0-9-]+)", self.path):
            self._gated_sse(gate(m[1]))
        elif m := re.fullmatch(r"/open/([a-z0-9-]+)", self.path):
            gate(m[1]).set()
            self._send(200, "text/plain", b"open\n")
        elif m := re.fullmatch(r"/say/([^?]*)", self.path):
            self._send(200, "application/json", json.dumps({"text": urllib.parse.unquote(m[1])}).encode())
        else:
            self._send(200, "application/json", json.dumps({"upstream": "ok", "scheme": self.scheme, "path": self.path}).encode())

    def _fake(self, request: Request, git: re.Match[str] | None) -> tuple[Answer | None, dict[str, object]]:
        """What a fake service answers (None: the server's own answer follows), and what it verified."""
        service = request.host.split(".")[0]
        found: tuple[Answer | None, dict[str, object]] | None = None
        if service in ("git", "ro") and git:
            found = github_fakes.git_access(
                request, git[1], push=git[3] == "git-receive-pack" or "service=git-receive-pack" in request.query
            )
        elif service == "github-api":
            found = github_fakes.mint(request) or github_fakes.api(request)
        elif service == "oauth2":
            found = google_fakes.token(request) or (Answer(404, b"Not Found\n", "text/plain"), {})
        elif service == "aiplatform":
            found = google_fakes.vertex_access(request) or (Answer(404, b"Not Found\n", "text/plain"), {})
        elif service in AWS_SERVICES:
            found = self._aws(request)
        return found or (None, {})

    @staticmethod
    def _aws(request: Request) -> tuple[Answer, dict[str, object]]:
        answer = aws.handle(
            method=request.method, host=request.host, path=request.path, query=request.query, headers=request.headers, body=request.body
        )
        content_type = next((v for k, v in answer.headers if k.lower() == "content-type"), "application/octet-stream")
        headers = [(k, v) for k, v in answer.headers if k.lower() != "content-type"]
        return Answer(answer.status, answer.body, content_type, headers), answer.record

    def _answer(self, answer: Answer) -> None:
        if isinstance(answer.body, bytes):
            self._send(answer.status, answer.content_type, answer.body, answer.headers)
            return
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in answer.body:
            self._write_chunk(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, content_type: str, payload: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _bytes(self, n: int, held: threading.Event | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        first = n // 2 if held is not None else n
        self._write_bytes(first)
        if held is not None:
            self.wfile.flush()
            held.wait(GATE_SECONDS)
            self._write_bytes(n - first)

    def _write_bytes(self, n: int) -> None:
        while n > 0:
            piece = CHUNK[: min(n, len(CHUNK))]
            self.wfile.write(piece)
            n -= len(piece)

    def _gated_sse(self, held: threading.Event) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event, wait in ((b"data: first\n\n", True), (b"data: last\n\n", False)):
            self._write_chunk(event)
            if wait:
                held.wait(GATE_SECONDS)
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, piece: bytes) -> None:
        """One chunk of a chunked answer, sent at once."""
        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.flush()

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
            self._write_chunk(event)
            time.sleep(interval)
        self.wfile.write(b"0\r\n\r\n")

    def _git(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        match = GIT_PATH.search(path)
        assert match is not None, "only git's requests reach here"
        repo, _, service = match.group(1, 2, 3)
        env = {
            "GIT_PROJECT_ROOT": GIT_ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo}.git/{service}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": self.client_address[0],
            "PATH": "/usr/bin:/bin",
        }
        # The image's git, found on the PATH set above.
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False).stdout  # noqa: S607
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _messages(self, body: bytes, stream: bool = False) -> None:
        request = json.loads(body or b"{}")
        model = request.get("model", "claude-e2e")
        message = {
            "id": "msg_e2e", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 1},
        }  # fmt: skip
        if not (stream or request.get("stream")):
            done = {**message, "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn"}
            self._send(200, "application/json", json.dumps(done).encode())
            return
        events = [
            ("message_start", {"type": "message_start", "message": message}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANSWER}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 3}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for name, data in events:
            event = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self._write_chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        print(f"upstream: {self.scheme} {format % args}", flush=True)


class TlsHandler(Handler):
    scheme = "https"

    def setup(self) -> None:
        # The handshake runs here, in the connection's own thread, not in the accept loop, so
        # many clients connecting at once (the benchmark's load) are not served one by one.
        self.request.do_handshake()
        super().setup()


class Server(ThreadingHTTPServer):
    # Room for a burst of new connections (the default backlog is 5).
    request_queue_size = 128


def main() -> None:
    # Every interface of its container: the test networks reach it there.
    plain = Server(("0.0.0.0", 80), Handler)  # noqa: S104
    tls = Server(("0.0.0.0", 443), TlsHandler)  # noqa: S104
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("/etc/upstream/leaf.pem", "/etc/upstream/leaf-key.pem")
    tls.socket = context.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    print("upstream: listening on :80 (http) and :443 (https)", flush=True)
    tls.serve_forever()


if __name__ == "__main__":
    main()
