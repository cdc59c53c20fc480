"""A stand-in for pipelock in the chained data-plane tests (test_chain.py): a plain mitmdump
plus this addon, which refuses the way pipelock 2.3 does. At CONNECT time for one port
(`standin_refuse_connect_port`: pipelock's SSRF, allowlist and rate-limit checks), and in-band
with one text/plain line: a request body with an AWS-shaped key (its body DLP) and a path
containing "rate-limited" (its rate limit). Like pipelock, it streams event streams. The real
pipelock runs in the end-to-end tier.
"""

from mitmproxy import ctx, http

TEXT = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}


class PipelockRefusals:
    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option("standin_refuse_connect_port", int, 0, "Refuse CONNECT to this port, as pipelock's SSRF check does.")

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.request.port == ctx.options.standin_refuse_connect_port:
            flow.response = http.Response.make(403, b"CONNECT blocked: SSRF blocked: localhost resolves to internal IP 127.0.0.1\n", TEXT)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and flow.response.headers.get("content-type") == "text/event-stream":
            flow.response.stream = True  # pipelock streams event streams

    def request(self, flow: http.HTTPFlow) -> None:
        if b"AKIA" in (flow.request.raw_content or b""):
            flow.response = http.Response.make(403, b"blocked: request body contains secret: AWS Access ID\n", TEXT)
        elif "rate-limited" in flow.request.path:
            flow.response = http.Response.make(429, b"blocked: rate limit exceeded for localhost\n", TEXT)


addons = [PipelockRefusals()]
