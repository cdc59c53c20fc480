import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import {
  type BottleReach,
  type PlanJson,
  reachOfPlan,
  type RouteReach,
  type StackReach,
  unknownToReach,
} from "../../../scripts/plan/reach";
import { countEffects, diffReach, formatReachDiff, gitSummary, prefixCovers, type ReachChange } from "../../../scripts/plan/reach-diff";

const route = (host: string, extra: Partial<RouteReach> = {}): RouteReach => ({
  host,
  ports: [443],
  methods: ["GET"],
  cleartextPorts: [],
  bulk: [],
  ...extra,
});
const github = route("api.github.com", {
  methods: ["GET", "POST"],
  paths: ["/repos/acme/"],
  credential: { header: "Authorization", token: "github-readonly", variable: "EGRESS_PROXY_TOKEN_0" },
});
const bottle = (routes: RouteReach[], extra: Partial<BottleReach> = {}): BottleReach => ({
  routes,
  auditMode: false,
  requestsPerMinute: 1200,
  maxBodyBytes: 33554432,
  pipelock: {
    trustedDomains: [],
    ssrfAllowlist: [],
    passthrough: [],
    dlpPatterns: {},
    responseScanning: "on (warn)",
    seedPhraseMinWords: 24,
    explainBlocks: false,
    bulkAnswerScanBytes: 0,
    scannedHeaders: ["Cookie", "X-Token"],
  },
  images: { agent: "node:22", "egress-proxy": "built by the program", pipelock: "ghcr.io/luckypipewrench/pipelock:2.3.0" },
  memoryMb: { agent: 2048, "egress-proxy": 256, pipelock: 256 },
  maxProcesses: { agent: 512, "egress-proxy": 256, pipelock: 256 },
  selfTest: true,
  unjudged: { "pipelock.yaml mode": '"strict"' },
  agent: { user: "1000:1000", command: ["sleep", "infinity"], env: ["HTTPS_PROXY"] },
  ...extra,
});
const base: StackReach = { coder: bottle([github, route("pypi.mirror.example.com")]) };
const withCoder = (b: BottleReach): StackReach => ({ coder: b });
const only = (changes: ReachChange[]) => changes.map(({ effect, subject, detail }) => [effect, subject, detail]);

describe("diffReach", () => {
  const cases: [string, StackReach, [string, string, string][]][] = [
    ["nothing changed", base, []],
    [
      "a host added",
      withCoder(bottle([github, route("pypi.mirror.example.com"), route("api.example.com", { methods: ["GET", "HEAD"] })])),
      [["widens", "route api.example.com", "new route: port 443; GET, HEAD; any path; no credential; pipelock reads all"]],
    ],
    [
      "an exact host widened to a wildcard",
      withCoder(bottle([github, route("*.mirror.example.com")])),
      [
        ["widens", "route *.mirror.example.com", "new route: port 443; GET; any path; no credential; pipelock reads all"],
        ["narrows", "route pypi.mirror.example.com", "removed (was: port 443; GET; any path; no credential; pipelock reads all)"],
      ],
    ],
    [
      "a method added",
      withCoder(bottle([{ ...github, methods: ["GET", "POST", "DELETE"] }, route("pypi.mirror.example.com")])),
      [["widens", "route api.github.com", "methods + DELETE"]],
    ],
    [
      "a path narrowed (a longer prefix under the old one)",
      withCoder(bottle([{ ...github, paths: ["/repos/acme/app/"] }, route("pypi.mirror.example.com")])),
      [["narrows", "route api.github.com", "paths - /repos/acme/"]],
    ],
    [
      "any path opened",
      withCoder(bottle([{ ...github, paths: undefined }, route("pypi.mirror.example.com")])),
      [["widens", "route api.github.com", "paths: any path (was /repos/acme/)"]],
    ],
    [
      "a token swapped (read-only for read-write)",
      withCoder(
        bottle([
          { ...github, credential: { header: "Authorization", token: "github-write", variable: "EGRESS_PROXY_TOKEN_0" } },
          route("pypi.mirror.example.com"),
        ]),
      ),
      [
        [
          "widens",
          "route api.github.com",
          "injects token github-write instead of github-readonly (in Authorization): check what it grants",
        ],
      ],
    ],
    [
      "a credential added to a route, and a port",
      withCoder(
        bottle([
          github,
          route("pypi.mirror.example.com", {
            ports: [443, 8443],
            credential: { header: "X-Key", token: "pypi", variable: "EGRESS_PROXY_TOKEN_1" },
          }),
        ]),
      ),
      [
        ["widens", "route pypi.mirror.example.com", "ports + 8443"],
        ["widens", "route pypi.mirror.example.com", "now injects token pypi in X-Key"],
      ],
    ],
    [
      "pipelock: passthrough and a trusted domain added, response scanning off, a DLP pattern dropped",
      withCoder(
        bottle([github, route("pypi.mirror.example.com")], {
          pipelock: {
            trustedDomains: ["git.internal.example.com"],
            ssrfAllowlist: [],
            passthrough: ["pypi.mirror.example.com"],
            dlpPatterns: {},
            responseScanning: "off",
            seedPhraseMinWords: 0,
            explainBlocks: false,
            bulkAnswerScanBytes: 0,
            scannedHeaders: ["Cookie", "X-Token"],
          },
        }),
      ),
      [
        ["widens", "pipelock", "trusts private addresses for + git.internal.example.com"],
        ["widens", "pipelock", "passes through without scanning + pypi.mirror.example.com"],
        ["widens", "pipelock", "response scanning on (warn) -> off"],
        ["widens", "pipelock", "seed phrase detection from 24 words -> off"],
      ],
    ],
    [
      "the rate limit lowered and the image pinned: a narrowing and another change",
      withCoder(
        bottle([github, route("pypi.mirror.example.com")], {
          requestsPerMinute: 600,
          images: {
            agent: "node:22@sha256:00",
            "egress-proxy": "built by the program",
            pipelock: "ghcr.io/luckypipewrench/pipelock:2.3.0",
          },
        }),
      ),
      [
        ["narrows", "rate limit", "1200 -> 600 requests a minute per host"],
        ["changes", "images", "agent: node:22 -> node:22@sha256:00"],
      ],
    ],
    [
      "downloads moved to the bulk lane, git traffic taken off it",
      withCoder(bottle([{ ...github, bulk: ["git"] }, route("pypi.mirror.example.com", { bulk: ["downloads"] })])),
      [
        ["widens", "route api.github.com", "bulk lane (pipelock checks the host and streams) + git"],
        ["widens", "route pypi.mirror.example.com", "bulk lane (pipelock checks the host and streams) + downloads"],
      ],
    ],
    [
      "audit mode turned on",
      withCoder(bottle([github, route("pypi.mirror.example.com")], { auditMode: true })),
      [["widens", "audit mode", "ON: the egress proxy lets through whatever no route covers (pipelock still enforces)"]],
    ],
    ["the bottle removed", {}, [["narrows", "bottle", "removed (its agent and gates are destroyed)"]]],
    [
      "a repository added to a git route",
      withCoder(bottle([github, route("pypi.mirror.example.com", { repositories: ["acme/app"] })])),
      [["widens", "route pypi.mirror.example.com", "git repositories + acme/app"]],
    ],
    [
      "pipelock's DLP reads a header fewer",
      withCoder(bottle([github, route("pypi.mirror.example.com")], { pipelock: { ...bottle([]).pipelock, scannedHeaders: ["Cookie"] } })),
      [["widens", "pipelock", "request headers its DLP reads - X-Token"]],
    ],
    [
      "a setting compared as it is changed",
      withCoder(bottle([github, route("pypi.mirror.example.com")], { unjudged: { "pipelock.yaml mode": '"balanced"' } })),
      [["widens", "pipelock.yaml", 'mode: "strict" -> "balanced" (not judged by the reach diff: counted as widening)']],
    ],
    [
      "a key the reach does not know appeared, another went",
      withCoder(bottle([github, route("pypi.mirror.example.com")], { unjudged: { "routes.yaml routes[github.com].mirror": "true" } })),
      [
        ["widens", "pipelock.yaml", 'mode: "strict" -> (absent) (not judged by the reach diff: counted as widening)'],
        ["widens", "routes.yaml", "routes[github.com].mirror: (absent) -> true (not judged by the reach diff: counted as widening)"],
      ],
    ],
  ];
  for (const [what, after, expected] of cases) {
    test(what, () => assert.deepEqual(only(diffReach(base, after)), expected));
  }

  test("a host directory mounted into the agent widens; removing it narrows; a plan that did not read them changes nothing", () => {
    const agent = (hostPaths?: string[]) => ({ user: "1000:1000", env: [], ...(hostPaths && { hostPaths }) });
    const diff = (from?: string[], to?: string[]) =>
      only(diffReach(withCoder(bottle([github], { agent: agent(from) })), withCoder(bottle([github], { agent: agent(to) }))));
    assert.deepEqual(diff([], ["/home/me/src/app"]), [["widens", "agent", "host directories it mounts + /home/me/src/app"]]);
    assert.deepEqual(diff(["/home/me/src/app"], []), [["narrows", "agent", "host directories it mounts - /home/me/src/app"]]);
    assert.deepEqual(diff(undefined, []), []);
  });

  test("git push rules: pushing at all, more refs, deletes or tags widen; fewer narrow", () => {
    const agentPush = { refs: ["refs/heads/agent/*"], create: true, delete: false, tags: false };
    const git = (push?: typeof agentPush) => route("github.com", { methods: ["GET", "POST"], ...(push && { push }) });
    const diff = (from?: typeof agentPush, to?: typeof agentPush) =>
      only(diffReach(withCoder(bottle([git(from)])), withCoder(bottle([git(to)]))));
    assert.deepEqual(diff(undefined, agentPush), [
      ["widens", "route github.com", "push refs/heads/agent/* (creations; no deletes; no tags): the agent may push"],
    ]);
    assert.deepEqual(diff(agentPush, undefined), [["narrows", "route github.com", "no push any more"]]);
    assert.deepEqual(diff(agentPush, { ...agentPush, refs: ["refs/heads/agent/*", "refs/heads/main"] }), [
      ["widens", "route github.com", "push refs + refs/heads/main"],
    ]);
    assert.deepEqual(diff(agentPush, { ...agentPush, delete: true, tags: true }), [
      ["widens", "route github.com", "push delete: true"],
      ["widens", "route github.com", "push tags: true"],
    ]);
    assert.deepEqual(diff({ ...agentPush, create: true }, { ...agentPush, create: false }), [
      ["narrows", "route github.com", "push create: false"],
    ]);
  });

  test("a DLP pattern kept by name but changed (here: a domain exempted) widens", () => {
    const acme = (definition: object) =>
      withCoder(
        bottle([github], {
          pipelock: { ...bottle([]).pipelock, dlpPatterns: { acme: JSON.stringify({ name: "acme", regex: "a", ...definition }) } },
        }),
      );
    assert.deepEqual(only(diffReach(acme({}), acme({ exempt_domains: ["x.example.com"] }))), [
      [
        "widens",
        "pipelock",
        'DLP pattern acme changed: {"name":"acme","regex":"a"} -> {"name":"acme","regex":"a","exempt_domains":["x.example.com"]}',
      ],
    ]);
    assert.deepEqual(only(diffReach(acme({}), acme({}))), []);
  });

  test("scanning less of the bulk lane's text answers widens; more narrows", () => {
    const scanned = (bytes: number) => withCoder(bottle([github], { pipelock: { ...bottle([]).pipelock, bulkAnswerScanBytes: bytes } }));
    const detail = (from: string, to: string) => `text answers on the bulk lane scanned: ${from} -> ${to}`;
    assert.deepEqual(only(diffReach(scanned(5242880), scanned(0))), [["widens", "pipelock", detail("5242880 bytes", "none")]]);
    assert.deepEqual(only(diffReach(scanned(1048576), scanned(5242880))), [
      ["narrows", "pipelock", detail("1048576 bytes", "5242880 bytes")],
    ]);
  });

  test("a new bottle widens, with each of its routes listed", () => {
    assert.deepEqual(only(diffReach({}, base)), [
      ["widens", "bottle", "new bottle"],
      [
        "widens",
        "route api.github.com",
        "new route: port 443; GET, POST; paths /repos/acme/; token github-readonly in Authorization; pipelock reads all",
      ],
      ["widens", "route pypi.mirror.example.com", "new route: port 443; GET; any path; no credential; pipelock reads all"],
    ]);
  });

  test("widening changes come first in each bottle, whatever the order they were found in", () => {
    const after = withCoder(bottle([{ ...github, methods: ["GET"] }, route("pypi.mirror.example.com"), route("x.example.com")]));
    assert.deepEqual(
      diffReach(base, after).map((c) => c.effect),
      ["widens", "narrows"],
    );
  });

  test("a plan that names no tokens cannot rule out a swap: reported, not counted as widening", () => {
    const unnamed = withCoder(
      bottle([{ ...github, credential: { header: "Authorization", variable: "EGRESS_PROXY_TOKEN_0" } }, route("pypi.mirror.example.com")]),
    );
    assert.deepEqual(only(diffReach(unnamed, base)), [
      [
        "changes",
        "route api.github.com",
        "token (unnamed, EGRESS_PROXY_TOKEN_0) -> github-readonly: one plan names no tokens, so a swap cannot be ruled out",
      ],
    ]);
  });
});

describe("reachOfPlan over the gates' documents", () => {
  const plan = (routesYaml: string): PlanJson => ({
    resources: [
      {
        type: "docker:index/container:Container",
        name: "agent",
        inputs: {
          labels: [
            { label: "bot-bottle.bottle", value: "coder" },
            { label: "bot-bottle.role", value: "agent" },
          ],
          memory: 2048,
          user: "1000:1000",
        },
      },
    ],
    files: { coder: { "routes.yaml": routesYaml } },
  });
  const routesYaml = (extra: string) =>
    `version: 1\nrequests_per_minute: 1200\nroutes:\n  - host: github.com\n    ports: [443]\n    methods: [GET]\n${extra}`;

  test("a route key the reach does not know counts as widening (a new option cannot slip past the diff)", () => {
    const changes = diffReach(reachOfPlan(plan(routesYaml(""))), reachOfPlan(plan(routesYaml("    mirror_to: [backup.example.com]\n"))));
    assert.deepEqual(only(changes), [
      [
        "widens",
        "routes.yaml",
        'routes[github.com].mirror_to: (absent) -> ["backup.example.com"] (not judged by the reach diff: counted as widening)',
      ],
    ]);
  });

  test("a route key the reach does not know: named, so that the reach diff refuses the plan", () => {
    assert.deepEqual(unknownToReach(plan(routesYaml("    mirror_to: [backup.example.com]\n"))), [
      "coder: routes.yaml routes[github.com].mirror_to",
    ]);
    assert.deepEqual(unknownToReach(plan(routesYaml(""))), []);
  });

  test("an ignored key changes nothing; a git route's repositories are read", () => {
    const git = (repos: string) => routesYaml(`    git: { repositories: [${repos}] }\n`);
    const changes = diffReach(
      reachOfPlan(plan(`allow_hint: one\n${git("acme/app")}`)),
      reachOfPlan(plan(`allow_hint: two\n${git("acme/app, acme/infra")}`)),
    );
    assert.deepEqual(only(changes), [["widens", "route github.com", "git repositories + acme/infra"]]);
  });
});

describe("reachOfPlan and unknownToReach over the storage mounted into workloads", () => {
  const labels = { "bot-bottle.bottle": "coder", "bot-bottle.role": "agent" };
  const container = (inputs: Record<string, unknown>): PlanJson["resources"][number] => ({
    type: "docker:index/container:Container",
    name: "coder-agent",
    inputs: { labels: Object.entries(labels).map(([label, value]) => ({ label, value })), memory: 2048, user: "1000:1000", ...inputs },
  });
  const deployment = (volumes: unknown[]): PlanJson["resources"][number] => ({
    type: "kubernetes:apps/v1:Deployment",
    name: "coder-agent",
    inputs: {
      metadata: { labels },
      spec: { template: { spec: { securityContext: { runAsUser: 1000, runAsGroup: 1000 }, containers: [{ image: "node:22" }], volumes } } },
    },
  });
  const plan = (resource: PlanJson["resources"][number]): PlanJson => ({ resources: [resource], files: {} });
  const workspace = { hostPath: "/home/me/src/app", containerPath: "/workspace" };

  test("a host directory mounted as the workspace is in the agent's reach, on either backend", () => {
    assert.deepEqual(reachOfPlan(plan(container({ volumes: [workspace] }))).coder!.agent!.hostPaths, ["/home/me/src/app"]);
    assert.deepEqual(
      reachOfPlan(plan(deployment([{ name: "workspace", hostPath: { path: "/home/me/src/app" } }]))).coder!.agent!.hostPaths,
      ["/home/me/src/app"],
    );
  });

  const cases: [string, PlanJson["resources"][number], string[]][] = [
    [
      "the bottle's own volume, read-only or not, and a host directory: all known",
      container({
        volumes: [
          { volumeName: "dev-coder-workspace", containerPath: "/workspace" },
          { volumeName: "c", containerPath: "/c", readOnly: true },
          workspace,
        ],
      }),
      [],
    ],
    [
      "another container's volumes",
      container({ volumes: [workspace, { fromContainer: "other", containerPath: "/x" }] }),
      ["coder-agent: volumes[1].fromContainer"],
    ],
    [
      "a Docker bind mount and a device",
      container({ mounts: [{ type: "bind", source: "/", target: "/host" }], devices: [{ hostPath: "/dev/sda" }] }),
      ["coder-agent: mounts", "coder-agent: devices"],
    ],
    [
      "a pod's claim, secrets, live configuration and scratch space: all known",
      deployment([
        { name: "w", persistentVolumeClaim: { claimName: "w" } },
        { name: "s", secret: { secretName: "s" } },
        { name: "l", projected: { sources: [] } },
        { name: "t", emptyDir: {} },
      ]),
      [],
    ],
    [
      "an NFS volume in a pod",
      deployment([
        { name: "w", persistentVolumeClaim: { claimName: "w" } },
        { name: "n", nfs: { server: "nas", path: "/" } },
      ]),
      ["coder-agent: volumes[1].nfs"],
    ],
  ];
  for (const [what, resource, expected] of cases) {
    test(`unknownToReach: ${what}`, () => assert.deepEqual(unknownToReach(plan(resource)), expected));
  }
});

describe("gitSummary", () => {
  const cases: [string[], string | undefined][] = [
    [
      ["/acme/app.git/info/refs", "/acme/app.git/git-upload-pack", "/acme/app/info/refs", "/acme/app/git-upload-pack"],
      "git acme/app (fetch)",
    ],
    [
      ["/acme/app.git/info/refs", "/acme/app.git/git-upload-pack", "/acme/app.git/git-receive-pack", "/g/s/lib/info/refs"],
      "git acme/app (fetch, push), g/s/lib (fetch)",
    ],
    [["/acme/app.git/info/refs", "/repos/acme/"], undefined],
    [[], undefined],
  ];
  for (const [paths, expected] of cases) test(`${paths.join(" ")} -> ${expected}`, () => assert.equal(gitSummary(paths), expected));
});

describe("prefixCovers", () => {
  const cases: [string, string, boolean][] = [
    ["/repos/acme/", "/repos/acme/app/", true],
    ["/repos/acme", "/repos/acme/app", true],
    ["/repos/acme", "/repos/acmecorp", false],
    ["/user", "/user", true],
    ["/repos/acme/app/", "/repos/acme/", false],
  ];
  for (const [prefix, path, covers] of cases)
    test(`${prefix} ${covers ? "covers" : "does not cover"} ${path}`, () => assert.equal(prefixCovers(prefix, path), covers));

  test("the dev example's API route allows the repository itself (GET /repos/acme/app) and below it, not its neighbours", () => {
    const dev = parse(fs.readFileSync(path.join(__dirname, "..", "..", "..", "Pulumi.dev.yaml"), "utf8")) as {
      config: Record<string, { routes: { host: string; paths?: string[] }[] }[]>;
    };
    const api = dev.config["bot-bottle:bottles"]![0]!.routes.find((r) => r.host === "api.github.com")!;
    const allowed = (p: string) => api.paths!.some((prefix) => prefixCovers(prefix, p));
    assert.deepEqual(["/repos/acme/app", "/repos/acme/app/pulls/1", "/repos/acme/application", "/repos/acme/lib"].map(allowed), [
      true,
      true,
      false,
      false,
    ]);
  });
});

describe("formatReachDiff", () => {
  test("a summary line, then each bottle's changes, widening marked", () => {
    const after = withCoder(bottle([{ ...github, methods: ["GET"] }, route("pypi.mirror.example.com"), route("x.example.com")]));
    const changes = diffReach(base, after);
    assert.deepEqual(countEffects(changes), { widens: 1, narrows: 1, changes: 0 });
    assert.equal(
      formatReachDiff(changes, { stack: "dev", from: "origin/main", to: "working tree" }),
      `Stack "dev", origin/main -> working tree: WIDENS the agents' reach (1 widening, 1 narrowing, 0 other changes)

bottle coder
  + WIDENS   route x.example.com: new route: port 443; GET; any path; no credential; pipelock reads all
  - narrows  route api.github.com: methods - POST
`,
    );
  });
});
