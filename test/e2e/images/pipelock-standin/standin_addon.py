"""mitmproxy addon of the pipelock STAND-IN (test only; NOT pipelock): refuses every host
outside api_allowlist with 403 (pipelock's wording) and logs each decision as a JSON line."""
import json
import os

from mitmproxy import http

with open(os.environ["PIPELOCK_STANDIN_ALLOWLIST"]) as f:
    ALLOWLIST = [entry.lower() for entry in json.load(f)]


def allowed(host):
    host = host.lower().rstrip(".")
    for entry in ALLOWLIST:
        # As pipelock: "*.domain" matches the subdomains and the apex.
        if entry.startswith("*.") and (host == entry[2:] or host.endswith(entry[1:])):
            return True
        if host == entry:
            return True
    return False


def log(event, flow, **extra):
    record = {"standin": "pipelock-standin", "event": event, "method": flow.request.method,
              "url": flow.request.pretty_url, **extra}  # fmt: skip
    print(json.dumps(record), flush=True)


def refuse(flow, text):
    flow.response = http.Response.make(403, text.encode(), {"Content-Type": "text/plain"})


class StandIn:
    def http_connect(self, flow):
        host = flow.request.host
        if not allowed(host):
            refuse(flow, f"CONNECT blocked: domain not in allowlist: {host}")
            log("blocked", flow, reason="domain not in allowlist")
        else:
            log("connect_allowed", flow)

    def request(self, flow):
        host = flow.request.pretty_host
        if not allowed(host):
            refuse(flow, f"blocked: domain not in allowlist: {host}")
            log("blocked", flow, reason="domain not in allowlist")
        else:
            log("allowed", flow)


addons = [StandIn()]
