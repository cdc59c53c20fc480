import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AGENT_CA_FILE, agentEnv } from "../../../components/agent/env";

describe("agentEnv", () => {
  test("points every client at the proxy and the egress-proxy CA, user variables sorted first", () => {
    assert.deepEqual(
      agentEnv("http://egress-proxy:9099", { TERM: "xterm", LANG: "C.UTF-8" }).map((v) => `${v.name}=${v.value}`),
      [
        "LANG=C.UTF-8",
        "TERM=xterm",
        "HTTP_PROXY=http://egress-proxy:9099",
        "HTTPS_PROXY=http://egress-proxy:9099",
        "http_proxy=http://egress-proxy:9099",
        "https_proxy=http://egress-proxy:9099",
        "NO_PROXY=",
        "no_proxy=",
        `SSL_CERT_FILE=${AGENT_CA_FILE}`,
        `NODE_EXTRA_CA_CERTS=${AGENT_CA_FILE}`,
        `REQUESTS_CA_BUNDLE=${AGENT_CA_FILE}`,
        `CURL_CA_BUNDLE=${AGENT_CA_FILE}`,
        `GIT_SSL_CAINFO=${AGENT_CA_FILE}`,
        `PIP_CERT=${AGENT_CA_FILE}`,
      ],
    );
  });
});
