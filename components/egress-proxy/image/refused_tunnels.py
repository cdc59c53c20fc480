"""Tunnels the egress proxy refused at CONNECT, accepted so that the refusal reaches the agent.

Clients show the answer to a request, not to a CONNECT (curl prints only "CONNECT tunnel
failed, response 403"). So a refused CONNECT is answered 200 all the same, TLS with the agent is
completed with the bottle's CA (mitmproxy's certificate for the name), and every request in the
tunnel gets the CONNECT's refusal (egress_proxy.requestheaders). Nothing leaves for it:

- with the 200 set in http_connect, mitmproxy opens no connection for the CONNECT (in regular
  mode it would connect eagerly without one; in upstream mode it opens none at CONNECT);
- mitmproxy's own TlsConfig addon has it connect upstream before the agent's TLS handshake
  (connection_strategy eager), in its tls_clienthello, which runs after the script's hooks: so
  this is an addon of its own, added after mitmproxy's (egress_proxy.load), that turns that off
  for a refused tunnel;
- every request is refused in requestheaders, before mitmproxy could connect for it, and
  anything that is not HTTP is killed (tcp_start), as everywhere.
"""

import time

from mitmproxy import http, tls

from egress_routes import Decision


class RefusedTunnels:
    def __init__(self) -> None:
        # Per client connection: the CONNECT's refusal and its target, for the log.
        self._refused: dict[str, tuple[Decision, str, int]] = {}

    def refuse(self, flow: http.HTTPFlow, decision: Decision, host: str) -> None:
        """Accept this refused CONNECT: its requests get `decision`."""
        self._refused[flow.client_conn.id] = (decision, host, flow.request.port)
        now = time.time()
        # As mitmproxy answers a CONNECT itself: no headers at all.
        flow.response = http.Response(flow.request.data.http_version, 200, b"Connection established", http.Headers(), b"", None, now, now)

    def refusal(self, client_id: str) -> tuple[Decision, str, int] | None:
        """The refusal for requests on this client connection, if its CONNECT was refused."""
        return self._refused.get(client_id)

    def forget(self, client_id: str) -> None:
        self._refused.pop(client_id, None)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        if data.context.client.id in self._refused:
            data.establish_server_tls_first = False
