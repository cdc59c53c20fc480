import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse, stringify } from "yaml";
import {
  broadWildcardProblem,
  credentialsOnlyOverTls,
  gatesAllowSameHosts,
  gitPushDeletesAndTagsReviewed,
  productionGitPushNamesRefs,
  productionNoAuditMode,
  refPatternMatches,
  routesKeysKnown,
  routesNoBroadWildcards,
} from "../policies/routes";
import {
  bottleGraph,
  container,
  kubernetesBottleGraph,
  liveConfigOf,
  object,
  pipelockConfig,
  podSpec,
  routesYaml,
  setConfigMapDocument,
  setDocument,
} from "./fixtures";
import { type DeclaredResource, runStackPolicy } from "../offline/run";

/** The graph with only the given gate's container (the other one removed), so a test sees one gate's violations. */
const only = (graph: DeclaredResource[], role: "egress-proxy" | "pipelock"): DeclaredResource[] =>
  graph.filter((r) => r !== container(graph, role === "egress-proxy" ? "pipelock" : "egress-proxy"));

const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // @pulumi/policy's unknown-string sentinel

describe("broadWildcardProblem", () => {
  const accepted = ["api.github.com", "*.example.com", "*.api.example.co.uk", "*.acme.github.io", "registry.example.com"];
  for (const host of accepted) {
    it(`accepts ${host}`, () => assert.equal(broadWildcardProblem(host), undefined));
  }
  const refused: [string, RegExp][] = [
    ["*", /bare '\*'/],
    ["*.com", /every domain under 'com', which is at or above a public suffix/],
    ["*.co.uk", /under 'co.uk'/],
    ["*.uk", /under 'uk'/],
    ["*.github.io", /under 'github.io'/], // private section of the public suffix list
    ["*.s3.amazonaws.com", /under 's3.amazonaws.com'/],
    ["api.*.com", /wildcard other than a single leading/],
    ["*example.com", /wildcard other than a single leading/],
    ["*.*.example.com", /wildcard other than a single leading/],
    ["*.10.0.0.1", /IP address/],
  ];
  for (const [host, message] of refused) {
    it(`refuses ${host}`, () => assert.match(broadWildcardProblem(host) ?? "", message));
  }
});

describe("routes-no-broad-wildcards", () => {
  it("passes exact hosts and a wildcard under a registrable domain", async () => {
    const graph = bottleGraph({ hosts: ["api.github.com", "*.example.com"] });
    const result = await runStackPolicy(routesNoBroadWildcards, graph);
    assert.deepEqual(result.violations, []);
  });

  it("rejects a bare '*' route", async () => {
    const graph = bottleGraph({ hosts: ["api.github.com", "*"] });
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only(graph, "egress-proxy"));
    assert.deepEqual(violations, [
      "'dev-reviewer-egress-proxy' route host '*' in /etc/egress-proxy/live/current/routes.yaml is a bare '*', which " +
        "allows every host on the internet. List the exact hosts the agent needs (e.g. 'api.example.com'), " +
        "or a wildcard under one registrable domain ('*.example.com').",
    ]);
  });

  it("rejects a wildcard over a public suffix in routes", async () => {
    const graph = bottleGraph({ hosts: ["*.co.uk"] });
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only(graph, "egress-proxy"));
    assert.equal(violations.length, 1);
    assert.match(violations[0], /route host '\*.co.uk' .* at or above a public suffix/);
  });

  it("rejects a wildcard over a public suffix in pipelock's api_allowlist", async () => {
    const graph = bottleGraph({ hosts: ["*.com"] });
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only(graph, "pipelock"));
    assert.equal(violations.length, 1);
    assert.match(
      violations[0],
      /^'dev-reviewer-pipelock' api_allowlist entry '\*.com' in \/etc\/pipelock\/live\/current\/pipelock.yaml covers/,
    );
  });

  it("reads routes.yaml from the path EGRESS_PROXY_ROUTES names", async () => {
    const graph = bottleGraph();
    container(graph, "egress-proxy").props.envs[0] = "EGRESS_PROXY_ROUTES=/etc/egress-proxy/live/current/other.yaml";
    const other = structuredClone(liveConfigOf(graph, "egress-proxy"));
    other.name = "reviewer-egress-proxy-other-apply";
    other.props.environment.BOTTLE_DOCUMENT = "other.yaml";
    other.props.stdin = routesYaml(["*"]);
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only([...graph, other], "egress-proxy"));
    assert.equal(violations.length, 1);
    assert.match(violations[0], /route host '\*' in \/etc\/egress-proxy\/live\/current\/other.yaml/);
  });

  it("rejects routes it cannot read (no command writes the configured document)", async () => {
    const graph = bottleGraph().filter((r) => !r.name.endsWith("-egress-proxy-config-apply"));
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only(graph, "egress-proxy"));
    assert.deepEqual(violations, [
      "Cannot check the route hosts of 'dev-reviewer-egress-proxy': it reads " +
        "/etc/egress-proxy/live/current/routes.yaml, but 0 commands write routes.yaml into volume dev-reviewer-egress-proxy-config " +
        "(expected exactly one). Deploy the rendered document the container is configured to read.",
    ]);
  });

  it("rejects a routes file that is not a version 1 document", async () => {
    const graph = bottleGraph();
    setDocument(graph, "egress-proxy", "routes: [{host: '*'}]\n");
    const { violations } = await runStackPolicy(routesNoBroadWildcards, only(graph, "egress-proxy"));
    assert.equal(violations.length, 1);
    assert.match(violations[0], /is not a version 1 routes document/);
  });

  it("defers routes whose content is unknown during preview", async () => {
    const graph = bottleGraph();
    setDocument(graph, "egress-proxy", UNKNOWN_STRING);
    const result = await runStackPolicy(routesNoBroadWildcards, only(graph, "egress-proxy"));
    assert.deepEqual(result.violations, []);
  });
});

describe("gates-allow-same-hosts", () => {
  it("passes when routes and api_allowlist name the same hosts", async () => {
    const result = await runStackPolicy(gatesAllowSameHosts, bottleGraph());
    assert.deepEqual(result.violations, []);
  });

  it("rejects a route host missing from pipelock's api_allowlist", async () => {
    const graph = bottleGraph();
    setDocument(graph, "pipelock", stringify(pipelockConfig("reviewer", ["api.anthropic.com"])));
    const { violations } = await runStackPolicy(gatesAllowSameHosts, graph);
    assert.deepEqual(violations, [
      "Bottle 'dev/reviewer': route hosts [api.github.com] of 'dev-reviewer-egress-proxy' are not in " +
        "pipelock's api_allowlist (/etc/pipelock/live/current/pipelock.yaml). Render api_allowlist from the same routes " +
        "so both gates allow the same hosts.",
    ]);
  });

  it("rejects a pipelock allowlist wider than the routes", async () => {
    const graph = bottleGraph();
    setDocument(graph, "pipelock", stringify(pipelockConfig("reviewer", ["api.anthropic.com", "api.github.com", "pastebin.com"])));
    const { violations } = await runStackPolicy(gatesAllowSameHosts, graph);
    assert.equal(violations.length, 1);
    assert.match(violations[0], /pipelock 'dev-reviewer-pipelock' allows \[pastebin.com\], which no egress-proxy route declares/);
  });

  it("compares each egress proxy with its own bottle's pipelock", async () => {
    const graph = [...bottleGraph({ hosts: ["api.github.com"] }), ...bottleGraph({ bottle: "coder", hosts: ["pypi.mirror.example.com"] })];
    const result = await runStackPolicy(gatesAllowSameHosts, graph);
    assert.deepEqual(result.violations, []);
  });
});

describe("routes-keys-known", () => {
  it("passes routes that use every key the package renders", async () => {
    const graph = bottleGraph();
    const doc = parse(liveConfigOf(graph, "egress-proxy").props.stdin);
    doc.routes[0] = {
      ...doc.routes[0],
      path_allowlist: ["/repos/acme/"],
      insecure_cleartext_ports: [80],
      auth: { header: "Authorization", prefix: "Basic ", basic_username: "x", token: "github", token_env: "EGRESS_PROXY_TOKEN_0" },
      git: { repositories: ["acme/app"], push: { refs: ["refs/heads/agent/*"], create: true, delete: false, tags: false } },
      bulk: ["git"],
    };
    setDocument(graph, "egress-proxy", stringify(doc));
    assert.deepEqual((await runStackPolicy(routesKeysKnown, graph)).violations, []);
  });

  it("refuses a route with a key it does not know, at any depth", async () => {
    const graph = bottleGraph();
    const doc = parse(liveConfigOf(graph, "egress-proxy").props.stdin);
    doc.routes[0].mirror_to = "https://mirror.example.com";
    doc.routes[0].git = { repositories: ["acme/app"], push: { refs: ["refs/heads/agent/*"], force: true } };
    setDocument(graph, "egress-proxy", stringify(doc));
    const { violations } = await runStackPolicy(routesKeysKnown, graph);
    assert.deepEqual(violations, [
      `Egress proxy 'dev-reviewer-egress-proxy' has a route to ${doc.routes[0].host} with mirror_to, git.push.force ` +
        "(/etc/egress-proxy/live/current/routes.yaml), which this policy pack does not know and so cannot judge. " +
        "Use the policy pack of the same bot-bottle version as the program.",
    ]);
    assert.equal(routesKeysKnown.enforcementLevel, "mandatory");
  });
});

describe("credentials-only-over-tls (advisory)", () => {
  it("is silent when every credential travels inside TLS", async () => {
    const { violations } = await runStackPolicy(credentialsOnlyOverTls, bottleGraph());
    assert.deepEqual(violations, []);
  });

  it("names a route that sends its credential in plain HTTP", async () => {
    const graph = bottleGraph();
    const doc = parse(liveConfigOf(graph, "egress-proxy").props.stdin);
    doc.routes[0].ports = [80, 443];
    doc.routes[0].insecure_cleartext_ports = [80];
    setDocument(graph, "egress-proxy", stringify(doc));
    const { violations } = await runStackPolicy(credentialsOnlyOverTls, graph);
    assert.deepEqual(violations, [
      `Egress proxy 'dev-reviewer-egress-proxy' sends the credential of ${doc.routes[0].host} in plain HTTP on ` +
        "port(s) 80. Use HTTPS and remove insecureCleartextPorts from the route.",
    ]);
    assert.equal(credentialsOnlyOverTls.enforcementLevel, "advisory");
  });
});

describe("production-no-audit-mode", () => {
  const inAuditMode = () => {
    const graph = bottleGraph();
    setDocument(graph, "egress-proxy", `version: 1\naudit: true\n${routesYaml(["api.github.com"]).replace("version: 1\n", "")}`);
    return graph;
  };

  it("refuses an egress proxy in audit mode in a production stack", async () => {
    const { violations } = await runStackPolicy(productionNoAuditMode, inAuditMode(), { stack: "prod" });
    assert.deepEqual(violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' runs in audit mode (/etc/egress-proxy/live/current/routes.yaml says audit: true) in a production stack: it lets through what no route covers. Remove auditMode from the bottle.",
    ]);
  });

  it("passes an enforcing egress proxy in production, and does not apply outside production", async () => {
    assert.deepEqual((await runStackPolicy(productionNoAuditMode, bottleGraph(), { stack: "prod" })).violations, []);
    assert.match(
      (await runStackPolicy(productionNoAuditMode, inAuditMode(), { stack: "dev" })).notApplicable ?? "",
      /not a production stack/,
    );
  });
});

describe("the routes policies on a Kubernetes bottle (routes.yaml from the egress proxy's ConfigMap)", () => {
  /** The Kubernetes graph without pipelock's Deployment, so a test sees the egress proxy's violations. */
  const onlyProxy = (graph: DeclaredResource[]) => graph.filter((r) => r !== object(graph, "Deployment", "pipelock"));

  it("passes the rendered documents", async () => {
    for (const policy of [routesNoBroadWildcards, gatesAllowSameHosts, credentialsOnlyOverTls]) {
      assert.deepEqual(
        (await runStackPolicy(policy, kubernetesBottleGraph({ hosts: ["api.github.com", "*.example.com"] }))).violations,
        [],
        policy.name,
      );
    }
  });

  it("rejects a bare '*' route in the ConfigMap", async () => {
    const { violations } = await runStackPolicy(
      routesNoBroadWildcards,
      onlyProxy(kubernetesBottleGraph({ hosts: ["api.github.com", "*"] })),
    );
    assert.deepEqual(violations, [
      "'dev-reviewer/egress-proxy' route host '*' in /etc/egress-proxy/live/current/routes.yaml is a bare '*', which " +
        "allows every host on the internet. List the exact hosts the agent needs (e.g. 'api.example.com'), " +
        "or a wildcard under one registrable domain ('*.example.com').",
    ]);
  });

  it("rejects a wildcard over a public suffix in pipelock's ConfigMap", async () => {
    const graph = kubernetesBottleGraph({ hosts: ["*.github.io"] });
    const { violations } = await runStackPolicy(
      routesNoBroadWildcards,
      graph.filter((r) => r !== object(graph, "Deployment", "egress-proxy")),
    );
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^'dev-reviewer\/pipelock' api_allowlist entry '\*.github.io' in \/etc\/pipelock\/live\/current\/pipelock.yaml covers/,
    );
  });

  it("reads the ConfigMap of the pod's own namespace, by the key the volume projects", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "ConfigMap", "egress-proxy-config").props.metadata.namespace = "elsewhere";
    const { violations } = await runStackPolicy(routesNoBroadWildcards, onlyProxy(graph));
    assert.deepEqual(violations, [
      "Cannot check the route hosts of 'dev-reviewer/egress-proxy': it reads /etc/egress-proxy/live/current/routes.yaml " +
        "from ConfigMap 'dev-reviewer/egress-proxy-config', but this stack declares 0 ConfigMaps by that name there " +
        "(expected exactly one). Deploy the rendered document the container is configured to read.",
    ]);
  });

  it("follows a volume's items (key -> path)", async () => {
    const graph = kubernetesBottleGraph();
    const configMap = object(graph, "ConfigMap", "egress-proxy-config");
    configMap.props.data["wide.yaml"] = routesYaml(["*"]);
    const live = podSpec(object(graph, "Deployment", "egress-proxy")).volumes.find((v: { name: string }) => v.name === "live");
    live.projected.sources[0].configMap.items = [{ key: "wide.yaml", path: "routes.yaml" }];
    const { violations } = await runStackPolicy(routesNoBroadWildcards, onlyProxy(graph));
    assert.equal(violations.length, 1);
    assert.match(violations[0]!, /route host '\*' in \/etc\/egress-proxy\/live\/current\/routes.yaml is a bare/);
  });

  it("rejects routes the egress proxy reads from outside its ConfigMap", async () => {
    const graph = kubernetesBottleGraph();
    const env = podSpec(object(graph, "Deployment", "egress-proxy")).containers[0].env;
    env[0].value = "/tmp/routes.yaml";
    const { violations } = await runStackPolicy(routesNoBroadWildcards, onlyProxy(graph));
    assert.deepEqual(violations, [
      "Cannot check the route hosts of 'dev-reviewer/egress-proxy': it reads /tmp/routes.yaml from volume 'writable-0', " +
        "which projects no ConfigMap there (the document must be a key of the bottle's ConfigMap). Deploy the rendered " +
        "document the container is configured to read.",
    ]);
  });

  it("rejects a ConfigMap without the document", async () => {
    const graph = kubernetesBottleGraph();
    object(graph, "ConfigMap", "egress-proxy-config").props.data = { "other.yaml": "version: 1\n" };
    const { violations } = await runStackPolicy(routesNoBroadWildcards, onlyProxy(graph));
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /reads \/etc\/egress-proxy\/live\/current\/routes.yaml, but no ConfigMap its volume 'live' projects \(egress-proxy-config\) has the key routes.yaml/,
    );
  });

  it("defers a document unknown during preview", async () => {
    const graph = kubernetesBottleGraph();
    setConfigMapDocument(graph, "egress-proxy", UNKNOWN_STRING);
    assert.deepEqual((await runStackPolicy(routesNoBroadWildcards, onlyProxy(graph))).violations, []);
  });

  it("compares each egress proxy with its own bottle's pipelock", async () => {
    const graph = kubernetesBottleGraph();
    setConfigMapDocument(graph, "pipelock", stringify(pipelockConfig("reviewer", ["api.anthropic.com"])));
    const { violations } = await runStackPolicy(gatesAllowSameHosts, [...graph, ...kubernetesBottleGraph({ bottle: "coder" })]);
    assert.deepEqual(violations, [
      "Bottle 'dev/reviewer': route hosts [api.github.com] of 'dev-reviewer/egress-proxy' are not in " +
        "pipelock's api_allowlist (/etc/pipelock/live/current/pipelock.yaml). Render api_allowlist from the same routes " +
        "so both gates allow the same hosts.",
    ]);
  });

  it("names a route that sends its credential in plain HTTP", async () => {
    const graph = kubernetesBottleGraph();
    const doc = parse(object(graph, "ConfigMap", "egress-proxy-config").props.data["routes.yaml"]);
    doc.routes[1].insecure_cleartext_ports = [80];
    setConfigMapDocument(graph, "egress-proxy", stringify(doc));
    const { violations } = await runStackPolicy(credentialsOnlyOverTls, graph);
    assert.equal(violations.length, 1);
    assert.match(
      violations[0]!,
      /^Egress proxy 'dev-reviewer\/egress-proxy' sends the credential of api.github.com in plain HTTP on port\(s\) 80/,
    );
  });

  it("refuses audit mode in production", async () => {
    const graph = kubernetesBottleGraph({ stack: "prod" });
    setConfigMapDocument(graph, "egress-proxy", `version: 1\naudit: true\n${routesYaml(["api.github.com"]).replace("version: 1\n", "")}`);
    const { violations } = await runStackPolicy(productionNoAuditMode, graph, { stack: "prod" });
    assert.deepEqual(violations, [
      "Egress proxy 'prod-reviewer/egress-proxy' runs in audit mode (/etc/egress-proxy/live/current/routes.yaml says audit: true) in a production stack: it lets through what no route covers. Remove auditMode from the bottle.",
    ]);
    assert.deepEqual(
      (await runStackPolicy(productionNoAuditMode, kubernetesBottleGraph({ stack: "prod" }), { stack: "prod" })).violations,
      [],
    );
  });
});

describe("git push rules: production-git-push-names-refs (mandatory in production), git-push-deletes-and-tags-reviewed (advisory)", () => {
  /** The graph with a git route on github.com whose push is `push`. */
  function withGitPush(push: unknown): DeclaredResource[] {
    const graph = bottleGraph({ hosts: ["api.anthropic.com", "github.com"] });
    const doc = parse(liveConfigOf(graph, "egress-proxy").props.stdin);
    doc.routes[1] = { host: "github.com", methods: ["GET", "POST"], git: { repositories: ["acme/app"], push } };
    setDocument(graph, "egress-proxy", stringify(doc));
    return graph;
  }
  const agentPush = { refs: ["refs/heads/agent/*"], create: true, delete: false, tags: false };

  it("passes the agent's own branches in production, and any route outside production", async () => {
    assert.deepEqual((await runStackPolicy(productionGitPushNamesRefs, withGitPush(agentPush), { stack: "prod" })).violations, []);
    assert.deepEqual((await runStackPolicy(productionGitPushNamesRefs, withGitPush(false), { stack: "prod" })).violations, []);
    assert.equal((await runStackPolicy(productionGitPushNamesRefs, withGitPush(true))).notApplicable, "not a production stack");
  });

  it("refuses push: true and any pattern covering main or master in production", async () => {
    const every = await runStackPolicy(productionGitPushNamesRefs, withGitPush(true), { stack: "prod" });
    assert.deepEqual(every.violations, [
      "Egress proxy 'dev-reviewer-egress-proxy' lets the agent push to refs/heads/main and refs/heads/master of github.com (git.push refs refs/*, " +
        'in /etc/egress-proxy/live/current/routes.yaml). Name the agent\'s own refs instead: git: { pushRules: { refs: ["refs/heads/agent/*"] } }.',
    ]);
    const heads = await runStackPolicy(
      productionGitPushNamesRefs,
      withGitPush({ ...agentPush, refs: ["refs/heads/agent/*", "refs/heads/ma*"] }),
      { stackTags: { "bot-bottle:environment": "production" } },
    );
    assert.match(
      heads.violations.join("\n"),
      /push to refs\/heads\/main and refs\/heads\/master of github.com \(git.push refs refs\/heads\/agent\/\*, refs\/heads\/ma\*/,
    );
  });

  it("points out deletes and tags wherever they are allowed", async () => {
    assert.deepEqual((await runStackPolicy(gitPushDeletesAndTagsReviewed, withGitPush(agentPush))).violations, []);
    assert.deepEqual(
      (await runStackPolicy(gitPushDeletesAndTagsReviewed, withGitPush({ ...agentPush, delete: true, tags: true }))).violations,
      [
        "Egress proxy 'dev-reviewer-egress-proxy' lets the agent delete refs and push tags on github.com (refs/heads/agent/*). Set delete: false and tags: false in git.pushRules unless the agent needs them.",
      ],
    );
    assert.equal(gitPushDeletesAndTagsReviewed.enforcementLevel, "advisory");
  });

  it("reads ref patterns as the egress proxy does: * is any characters, / included; the rest literal", () => {
    assert.equal(refPatternMatches("refs/heads/agent/*", "refs/heads/agent/a/b"), true);
    assert.equal(refPatternMatches("refs/heads/agent/*", "refs/heads/agentx"), false);
    assert.equal(refPatternMatches("refs/heads/v1.0", "refs/heads/v1x0"), false);
    assert.equal(refPatternMatches("refs/*", "refs/heads/main"), true);
  });
});
