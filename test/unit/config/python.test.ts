import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { namedBottleSchema, pythonName, pythonPath, withPythonPaths } from "../../../components/config";

describe("pythonName: a schema property as Python's generated SDK names it", () => {
  const cases: [string, string][] = [
    ["host", "host"],
    ["maxBodyMb", "max_body_mb"],
    ["insecureCleartextPorts", "insecure_cleartext_ports"],
    ["caValidityHours", "ca_validity_hours"],
    ["egressProxy", "egress_proxy"],
    ["workspaceSizeGb", "workspace_size_gb"],
    ["privateCidrs", "private_cidrs"],
    ["trusted_domains", "trusted_domains"],
    ["max_tunnel_seconds", "max_tunnel_seconds"],
    ["caCertPEM", "ca_cert_pem"],
    ["URLPath", "url_path"],
    ["ipv4Cidrs", "ipv4_cidrs"],
  ];
  for (const [name, python] of cases) test(`${name} → ${python}`, () => assert.equal(pythonName(name), python));
});

describe("pythonPath: a bottle's problem path as a Python program spells it", () => {
  const cases: [string, string][] = [
    ["routes[0].host", "routes[0].host"],
    ["maxBodyMb", "max_body_mb"],
    ["routes[0].insecureCleartextPorts[1]", "routes[0].insecure_cleartext_ports[1]"],
    ["routes[2].git.pushRules.refs[0]", "routes[2].git.push_rules.refs[0]"],
    ["egressProxy.memoryMb", "egress_proxy.memory_mb"],
    ["agent.workspace.hostPath", "agent.workspace.host_path"],
    ["kubernetes.workspaceSizeGb", "kubernetes.workspace_size_gb"],
    ["pipelock.settings.tls_interception.passthrough_domains[0]", "pipelock.settings.tls_interception.passthrough_domains[0]"],
    // A map's keys are the user's own (environment variable names), not schema names.
    ["agent.env.httpProxy", "agent.env.httpProxy"],
    ["agent.env.my.var", "agent.env.my.var"],
    // An unknown key is shown as the user wrote it, and so is everything under it.
    ["routes[0].maxPorts", "routes[0].maxPorts"],
    ["egressProxyX.memoryMb", "egressProxyX.memoryMb"],
    ["", ""],
  ];
  for (const [path, python] of cases)
    test(`${path || "(empty)"} → ${python || "(empty)"}`, () => assert.equal(pythonPath(namedBottleSchema, path), python));
});

test("withPythonPaths names Python's path beside the schema's where they differ, and only there", () => {
  const problems = [
    { path: "routes[0].host", message: "a" },
    { path: "routes[0].insecureCleartextPorts", message: "b" },
    { path: "egressProxy.memoryMb", message: "c" },
    { path: "agent.env.HTTP_PROXY", message: "d" },
  ];
  assert.deepEqual(withPythonPaths(problems), [
    { path: "routes[0].host", message: "a" },
    { path: "routes[0].insecureCleartextPorts (Python: routes[0].insecure_cleartext_ports)", message: "b" },
    { path: "egressProxy.memoryMb (Python: egress_proxy.memory_mb)", message: "c" },
    { path: "agent.env.HTTP_PROXY", message: "d" },
  ]);
});
