/**
 * The routes.yaml contract between the program (TypeScript: schema, renderer) and the egress
 * proxy (Python: egress_routes.py, the module its image runs). Every example stack's rendered
 * routes.yaml, and bottles that use every route option (test/support/feature-bottles.ts), go
 * through both, which must agree on every route; so must the keys they accept (a route's are
 * the route contract's), their reserved headers, methods, default ports, token variable prefix,
 * listen port, and which hosts and path prefixes a route may name.
 *
 * Runs the addon's model with the data-plane venv's Python (test/dataplane/run-host.sh makes
 * it), or CONTRACT_PYTHON.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import {
  type BottleSpec,
  DEFAULT_CREDENTIAL_PORTS,
  DEFAULT_PORTS,
  githubAppNarrowing,
  HTTP_METHODS,
  pathPrefixProblem,
  renderPipelockBulkYaml,
  renderPipelockYaml,
  renderRoutesYaml,
  RESERVED_HEADERS,
  type RouteAuthSpec,
  routeHostProblem,
  ROUTE_YAML_KEYS,
  sourceOf,
  tokenEnvNames,
  TOKEN_ENV_PREFIX,
  validateStackConfig,
} from "../../components/index";
import { blockedCommand } from "../../infra/allow-hint";
import { EGRESS_PROXY_PORT } from "../../components/egress-proxy/workload";
import { readStackFile } from "../../infra/stack-file";
import { passthroughHosts, scannedHeaders } from "../../components/pipelock/config";
import { answerScanBytes, BulkKind, bulkKinds, usesBulkLane } from "../../components/pipelock/lanes";
import { ROUTE_REASONS } from "../../scripts/bottle/blocked";
import { keyPaths, ROUTES_DOCUMENT_KEYS } from "../../scripts/plan/document-keys";
import { documentsUnjudged } from "../../scripts/plan/reach";
import { featureBottles } from "../support/feature-bottles";

const ROOT = path.resolve(__dirname, "..", "..");
const PYTHON = process.env.CONTRACT_PYTHON ?? path.join(ROOT, ".venv-dataplane", "bin", "python");

interface PythonSide {
  constants: {
    reserved_headers: string[];
    http_methods: string[];
    default_ports: number[];
    default_credential_ports: number[];
    token_env_prefix: string;
    listen_port: number;
    route_reasons: string[];
    bulk_kinds: string[];
  };
  /** The keys the model accepts, dotted: of a route, and of the document around the routes. */
  keys: { route: string[]; document: string[] };
  documents: Record<string, unknown>;
  hosts: Record<string, boolean>;
  paths: Record<string, boolean>;
}

/** A route as both sides must understand it. */
function expectedRoutes(spec: BottleSpec): unknown[] {
  const tokenEnv = tokenEnvNames(spec);
  return spec.routes.map((route) => ({
    host: route.host,
    ports: [...route.ports].sort((a, b) => a - b),
    methods: [...route.methods].sort(),
    paths: route.paths ?? null,
    auth: route.auth ? expectedAuth(route.auth, sourceOf(route, spec), tokenEnv) : null,
    insecure_cleartext_ports: [...(route.insecureCleartextPorts ?? [])].sort((a, b) => a - b),
    git: route.git ? { repositories: route.git.repositories, push: route.git.push } : null,
    bulk: bulkKinds(route, spec.pipelock.settings).sort(),
  }));
}

/** A route's auth: a static token by its variable, a minted one by its source; in a header or signed. */
function expectedAuth(auth: RouteAuthSpec, source: string | undefined, tokenEnv: ReadonlyMap<string, string>): unknown {
  const header = {
    header: auth.header,
    prefix: auth.prefix,
    ...(auth.username !== undefined && { username: auth.username }),
  };
  if (source === undefined) return { ...header, token: auth.token, token_env: tokenEnv.get(auth.token) };
  return { token: auth.token, credential: source, ...(auth.sigv4 ? { sigv4: auth.sigv4 } : header) };
}

/** A bottle's credential sources as both sides must understand them, their secrets aside. */
function expectedCredentials(spec: BottleSpec): unknown {
  return Object.fromEntries(
    Object.entries(spec.credentials ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, source]) => {
        if (source.githubApp) {
          const { appId, installationId, apiUrl } = source.githubApp;
          const narrowing = githubAppNarrowing(spec.routes.filter((route) => sourceOf(route, spec) === name));
          return [name, { kind: "github_app", app_id: appId, installation_id: installationId, api_url: apiUrl, ...narrowing }];
        }
        if (source.aws) {
          const { role } = source.aws;
          const assumed = role && {
            role_arn: role.arn,
            sts_url: role.stsUrl,
            sts_region: role.stsRegion,
            session_seconds: role.sessionSeconds,
          };
          return [name, { kind: "aws", ...assumed }];
        }
        const { scopes, tokenUrl } = source.googleServiceAccount!;
        return [name, { kind: "google_service_account", scopes, token_url: tokenUrl }];
      }),
  );
}

/** A whole routes.yaml as both sides must understand it. */
function expectedDocument(spec: BottleSpec): unknown {
  const { settings } = spec.pipelock;
  return {
    audit: spec.auditMode,
    allow_hint: blockedCommand("stack", spec.name),
    requests_per_minute: spec.requestsPerMinute,
    // Both sides name the same headers for pipelock's DLP, and the same answer size.
    bulk_lane: usesBulkLane(spec)
      ? {
          scan_headers: scannedHeaders(spec)
            .map((h) => h.toLowerCase())
            .sort(),
          answer_scan_bytes: answerScanBytes(settings),
        }
      : null,
    passthrough: passthroughHosts(spec),
    credentials: expectedCredentials(spec),
    routes: expectedRoutes(spec),
  };
}

function exampleStacks(): Record<string, BottleSpec> {
  const specs: Record<string, BottleSpec> = {};
  for (const file of fs.readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f))) {
    const { config } = readStackFile(fs.readFileSync(path.join(ROOT, file), "utf8"), () => "placeholder");
    const validated = validateStackConfig({ ...config, bottles: config.bottles });
    assert.ok(validated.ok, `${file}: ${JSON.stringify(validated)}`);
    for (const bottle of validated.value.bottles) specs[`${file}/${bottle.name}`] = bottle;
  }
  return specs;
}

/** routes.yaml without the ports and methods the config left to defaults: the addon's own must match. */
function withoutDefaults(spec: BottleSpec, raw: unknown): string {
  const document = parse(renderRoutesYaml(spec, blockedCommand("stack", spec.name))) as { routes: Record<string, unknown>[] };
  const rawRoutes = (raw as { routes: Record<string, unknown>[] }).routes;
  document.routes.forEach((route, i) => {
    if (!("ports" in rawRoutes[i]!)) delete route.ports;
    // A git route's methods come from git, not from a default: routes.yaml always lists them.
    if (!("methods" in rawRoutes[i]!) && !("git" in rawRoutes[i]!)) delete route.methods;
  });
  return stringify(document);
}

const HOSTS = [
  "api.github.com",
  "localhost",
  "*.example.com",
  "*.s3.amazonaws.com",
  "xn--bcher-kva.example",
  "a-b.example.co.uk",
  "",
  "*",
  "*.com",
  "a.*.example.com",
  "API.github.com",
  "api.github.com.",
  "-bad.example.com",
  "a..example.com",
  "under_score.example.com",
  "bücher.example",
  "1.2.3.999",
  "2130706433",
  "10.0.0.1",
  "::1",
  "[::1]",
  "x.com:443",
  `${"a".repeat(64)}.example.com`,
  "0x7f.1",
];
const PATHS = [
  "/",
  "/repos/acme/",
  "/v1/messages",
  "/a-b_c~d",
  "/%41",
  "repos/",
  "/a b",
  "/a?b",
  "/a#b",
  "/a\\b",
  "/a;b",
  "//a",
  "/a/../b",
  "/a/./b",
  "/a/%2f",
  "/a/%2E",
  "/%25",
  "/%00",
  "/é",
];

describe("routes.yaml contract: the program and the egress proxy agree", () => {
  const stacks = exampleStacks();
  const features = featureBottles();
  let python: PythonSide;

  before(() => {
    assert.ok(
      fs.existsSync(PYTHON),
      `no Python at ${PYTHON}: run test/dataplane/run-host.sh once (it makes the venv), or set CONTRACT_PYTHON`,
    );
    const documents: Record<string, string> = {};
    for (const [key, spec] of Object.entries(stacks)) documents[key] = renderRoutesYaml(spec, blockedCommand("stack", spec.name));
    for (const [key, { spec, raw }] of Object.entries(features)) {
      documents[`feature/${key}`] = renderRoutesYaml(spec, blockedCommand("stack", spec.name));
      documents[`feature/${key}/defaults`] = withoutDefaults(spec, raw);
    }
    const result = spawnSync(PYTHON, [path.join(__dirname, "routes_model.py")], {
      input: JSON.stringify({ documents, hosts: HOSTS, paths: PATHS }),
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    python = JSON.parse(result.stdout) as PythonSide;
  });

  test("there are example stacks, and each has bottles", () => {
    assert.deepEqual([...new Set(Object.keys(stacks).map((k) => k.split("/")[0]))].sort(), [
      "Pulumi.cluster.yaml",
      "Pulumi.dev.yaml",
      "Pulumi.prod.yaml",
      "Pulumi.staging.yaml",
    ]);
  });

  test("every example stack's routes.yaml: the egress proxy enforces exactly the routes the config declares", () => {
    for (const [key, spec] of Object.entries(stacks)) {
      assert.deepEqual(python.documents[key], expectedDocument(spec), key);
    }
  });

  test("every route feature: wildcards, paths, credentials with prefixes, cleartext opt-in, odd ports", () => {
    for (const [key, { spec }] of Object.entries(features)) {
      assert.deepEqual(python.documents[`feature/${key}`], expectedDocument(spec), key);
    }
  });

  test("routes without ports or methods get the same defaults on both sides", () => {
    for (const [key, { spec }] of Object.entries(features)) {
      assert.deepEqual(python.documents[`feature/${key}/defaults`], expectedDocument(spec), key);
    }
  });

  test("the same reserved headers, methods, default ports, token variable prefix, listen port, route refusal reasons and bulk kinds", () => {
    assert.deepEqual(python.constants, {
      reserved_headers: [...RESERVED_HEADERS].sort(),
      http_methods: [...HTTP_METHODS].sort(),
      default_ports: [...DEFAULT_PORTS].sort((a, b) => a - b),
      default_credential_ports: [...DEFAULT_CREDENTIAL_PORTS].sort((a, b) => a - b),
      token_env_prefix: TOKEN_ENV_PREFIX,
      listen_port: EGRESS_PROXY_PORT,
      // What `npm run bottle -- blocked` turns into route suggestions, and audit mode lets through.
      route_reasons: [...ROUTE_REASONS].sort(),
      bulk_kinds: Object.values(BulkKind).sort(),
    });
  });

  test("the same keys: a route's are the route contract's (components/config/route-contract.ts), the document's the reach diff's", () => {
    assert.deepEqual(python.keys, { route: [...ROUTE_YAML_KEYS.keys()].sort(), document: keyPaths(ROUTES_DOCUMENT_KEYS).sort() });
  });

  test("the same hosts are accepted as route hosts", () => {
    assert.deepEqual(python.hosts, Object.fromEntries(HOSTS.map((host) => [host, routeHostProblem(host) === undefined])));
  });

  test("the same path prefixes are accepted", () => {
    assert.deepEqual(python.paths, Object.fromEntries(PATHS.map((p) => [p, pathPrefixProblem(p) === undefined])));
  });
});

describe("the reach diff knows every key the program writes into the gates' documents", () => {
  // A new route option or pipelock setting must be judged (document-keys.ts) before it ships:
  // until then the reach diff counts its every change as widening.
  const bottles: Record<string, BottleSpec> = {
    ...exampleStacks(),
    ...Object.fromEntries(Object.entries(featureBottles()).map(([key, { spec }]) => [`feature/${key}`, spec])),
  };
  for (const [key, spec] of Object.entries(bottles)) {
    test(key, () => {
      const files = {
        "routes.yaml": renderRoutesYaml(spec, blockedCommand("stack", spec.name)),
        "pipelock.yaml": renderPipelockYaml(spec),
        "pipelock-bulk.yaml": renderPipelockBulkYaml(spec),
      };
      assert.deepEqual(documentsUnjudged(files).unknown, []);
    });
  }
});
