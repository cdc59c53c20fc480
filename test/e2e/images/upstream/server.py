"""TEST upstream: records each request (scheme, client address, method, host, path, headers, body) as a JSON
line in /var/log/upstream/requests.jsonl and answers 200 with a small JSON body."""
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/var/log/upstream/requests.jsonl"
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    scheme = "http"

    def _handle(self):
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
        answer = json.dumps({"upstream": "ok", "scheme": self.scheme, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def log_message(self, fmt, *args):
        print(f"upstream: {self.scheme} {fmt % args}", flush=True)


class TlsHandler(Handler):
    scheme = "https"


def main():
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
