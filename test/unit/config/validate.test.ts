import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type ConfigProblem,
  DEFAULT_PIPELOCK_IMAGE,
  formatProblems,
  type StackConfigInput,
  validateBottle,
  validateStackConfig,
} from "../../../components/config";

const secret = (value = "s3cret-value") => ({ secret: true, value });
const route = (extra: Record<string, unknown> = {}) => ({ host: "api.github.com", ...extra });
const bottle = (extra: Record<string, unknown> = {}) => ({ name: "coder", routes: [route()], ...extra });

function problems(input: Partial<StackConfigInput>): ConfigProblem[] {
  const result = validateStackConfig({ bottles: [bottle()], tokens: {}, ...input });
  assert.equal(result.ok, false, "expected the config to be rejected");
  return result.ok ? [] : result.problems;
}

/** Asserts exactly one problem, at `path`, whose message matches. */
function rejects(input: Partial<StackConfigInput>, path: string, message: RegExp): void {
  const found = problems(input);
  assert.deepEqual(
    found.map((p) => p.path),
    [path],
    formatProblems(found),
  );
  assert.match(found[0]!.message, message);
}

describe("validateStackConfig rejects", () => {
  const cases: [string, Partial<StackConfigInput>, string, RegExp][] = [
    ["a missing bottles key", { bottles: undefined }, "bottles", /required \(expected array\)/],
    ["bottles that are not a list", { bottles: { coder: {} } }, "bottles", /expected array, got a mapping/],
    ["an empty bottle list", { bottles: [] }, "bottles", /at least one bottle/],
    ["a URL as host", { bottles: [bottle({ routes: [route({ host: "https://x.com" })] })] }, "bottles[0].routes[0].host", /not a URL/],
    [
      "a port in the host",
      { bottles: [bottle({ routes: [route({ host: "x.com:8443" })] })] },
      "bottles[0].routes[0].host",
      /without a port/,
    ],
    ["an uppercase host", { bottles: [bottle({ routes: [route({ host: "X.com" })] })] }, "bottles[0].routes[0].host", /lowercase/],
    [
      "an IP host",
      { bottles: [bottle({ routes: [route({ host: "192.168.1.1" })] })] },
      "bottles[0].routes[0].host",
      /IP literal "192.168.1.1" is not supported: both gates match routes by DNS name/,
    ],
    ["a bare *", { bottles: [bottle({ routes: [route({ host: "*" })] })] }, "bottles[0].routes[0].host", /bare "\*"/],
    [
      "a mid-name wildcard",
      { bottles: [bottle({ routes: [route({ host: "api.*.com" })] })] },
      "bottles[0].routes[0].host",
      /only wildcard form/,
    ],
    [
      "an unknown route key",
      { bottles: [bottle({ routes: [route({ path: ["/x"] })] })] },
      "bottles[0].routes[0].path",
      /^unknown key \(did you mean "paths"\?\): a typo here must not silently change what a bottle allows$/,
    ],
    ["an unknown bottle key", { bottles: [bottle({ agnet: {} })] }, "bottles[0].agnet", /^unknown key \(did you mean "agent"\?\)/],
    [
      "a push ref that is not a full ref name",
      {
        bottles: [
          bottle({ routes: [route({ host: "github.com", git: { repositories: ["acme/app"], pushRules: { refs: ["agent/*"] } } })] }),
        ],
      },
      "bottles[0].routes[0].git.pushRules.refs[0]",
      /expected a ref pattern such as "refs\/heads\/agent\/\*"/,
    ],
    [
      "a push ref with ..",
      {
        bottles: [
          bottle({
            routes: [route({ host: "github.com", git: { repositories: ["acme/app"], pushRules: { refs: ["refs/heads/../main"] } } })],
          }),
        ],
      },
      "bottles[0].routes[0].git.pushRules.refs[0]",
      /without "\.\.", "\/\/" or a trailing "\/"/,
    ],
    [
      "an unknown push rule",
      { bottles: [bottle({ routes: [route({ host: "github.com", git: { repositories: ["acme/app"], pushRules: { force: true } } })] })] },
      "bottles[0].routes[0].git.pushRules.force",
      /unknown key/,
    ],
    [
      "push rules on a route that does not push",
      { bottles: [bottle({ routes: [route({ host: "github.com", git: { repositories: ["acme/app"], push: false, pushRules: {} } })] })] },
      "bottles[0].routes[0].git.pushRules",
      /remove push: false \(pushRules alone allows pushing\)/,
    ],
    [
      "an unknown auth key",
      { bottles: [bottle({ routes: [route({ auth: { header: "X-Api-Key", token: "t", value: "x" } })] })], tokens: { t: secret() } },
      "bottles[0].routes[0].auth.value",
      /^unknown key: a typo here must not silently change what a bottle allows; expected one of header, prefix, username, sigv4, token$/,
    ],
    [
      "an unknown pipelock setting",
      { bottles: [bottle({ pipelock: { settings: { mode: "audit" } } })] },
      "bottles[0].pipelock.settings.mode",
      /unknown key/,
    ],
    [
      "a duplicate host",
      { bottles: [bottle({ routes: [route(), route({ methods: ["GET"] })] })] },
      "bottles[0].routes[1].host",
      /duplicate host "api.github.com" \(also routes\[0\]\)/,
    ],
    [
      "a reference to a missing token",
      { bottles: [bottle({ routes: [route({ auth: { header: "Authorization", token: "github" } })] })] },
      "bottles[0].routes[0].auth.token",
      /no token named "github".*pulumi config set --secret --path 'tokens.github'/,
    ],
    ["a token stored in plain text", { tokens: { github: { secret: false, value: "ghp_x" } } }, "tokens.github", /plain text.*--secret/],
    ["an empty token", { tokens: { github: secret("") } }, "tokens.github", /non-empty string/],
    [
      "a method outside the HTTP set",
      { bottles: [bottle({ routes: [route({ methods: ["GET", "CONNECT"] })] })] },
      "bottles[0].routes[0].methods[1]",
      /expected one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"/,
    ],
    [
      "a lowercase method",
      { bottles: [bottle({ routes: [route({ methods: ["get"] })] })] },
      "bottles[0].routes[0].methods[0]",
      /expected one of/,
    ],
    [
      "a duplicate method",
      { bottles: [bottle({ routes: [route({ methods: ["GET", "GET"] })] })] },
      "bottles[0].routes[0].methods",
      /no duplicate entries/,
    ],
    [
      "an empty method list",
      { bottles: [bottle({ routes: [route({ methods: [] })] })] },
      "bottles[0].routes[0].methods",
      /at least 1 entry/,
    ],
    [
      "a path without a leading slash",
      { bottles: [bottle({ routes: [route({ paths: ["repos/"] })] })] },
      "bottles[0].routes[0].paths[0]",
      /starting with "\/"/,
    ],
    [
      "a path with ..",
      { bottles: [bottle({ routes: [route({ paths: ["/repos/../admin"] })] })] },
      "bottles[0].routes[0].paths[0]",
      /"\.\."/,
    ],
    ["a path with ?", { bottles: [bottle({ routes: [route({ paths: ["/search?q=x"] })] })] }, "bottles[0].routes[0].paths[0]", /"\?"/],
    ["a path with #", { bottles: [bottle({ routes: [route({ paths: ["/a#b"] })] })] }, "bottles[0].routes[0].paths[0]", /"#"/],
    ["port 0", { bottles: [bottle({ routes: [route({ ports: [0] })] })] }, "bottles[0].routes[0].ports[0]", /at least 1/],
    ["port 65536", { bottles: [bottle({ routes: [route({ ports: [65536] })] })] }, "bottles[0].routes[0].ports[0]", /at most 65535/],
    ["a fractional port", { bottles: [bottle({ routes: [route({ ports: [44.3] })] })] }, "bottles[0].routes[0].ports[0]", /expected int/],
    [
      "a framing header as credential header",
      { bottles: [bottle({ routes: [route({ auth: { header: "Host", token: "t" } })] })], tokens: { t: secret() } },
      "bottles[0].routes[0].auth.header",
      /frames or routes the request/,
    ],
    [
      "a header name with a space",
      { bottles: [bottle({ routes: [route({ auth: { header: "X Api", token: "t" } })] })], tokens: { t: secret() } },
      "bottles[0].routes[0].auth.header",
      /HTTP header name/,
    ],
    [
      "a prefix with a line break",
      {
        bottles: [bottle({ routes: [route({ auth: { header: "Authorization", prefix: "Bearer\r\nX: y", token: "t" } })] })],
        tokens: { t: secret() },
      },
      "bottles[0].routes[0].auth.prefix",
      /printable ASCII/,
    ],
    ["a bottle without routes", { bottles: [bottle({ routes: [] })] }, "bottles[0].routes", /at least one route/],
    ["a bad bottle name", { bottles: [bottle({ name: "Coder_1" })] }, "bottles[0].name", /lowercase name/],
    [
      "an agent env overriding the proxy",
      { bottles: [bottle({ agent: { image: "node:22", env: { https_proxy: "http://evil:1" } } })] },
      "bottles[0].agent.env.https_proxy",
      /set by the bottle itself/,
    ],
    [
      "a git route with its own paths",
      { bottles: [bottle({ routes: [route({ git: { repositories: ["acme/app"] }, paths: ["/x"] })] })] },
      "bottles[0].routes[0].paths",
      /a route with git allows git's own paths; remove "paths"/,
    ],
    [
      "a git repository with .git",
      { bottles: [bottle({ routes: [route({ git: { repositories: ["acme/app.git"] } })] })] },
      "bottles[0].routes[0].git.repositories[0]",
      /without "\.git"/,
    ],
    [
      "a git repository that is not owner/name",
      { bottles: [bottle({ routes: [route({ git: { repositories: ["app"] } })] })] },
      "bottles[0].routes[0].git.repositories[0]",
      /repository path such as "acme\/app"/,
    ],
    [
      "Basic credentials with a prefix",
      {
        bottles: [
          bottle({ routes: [route({ auth: { header: "Authorization", prefix: "token ", username: "x-access-token", token: "t" } })] }),
        ],
        tokens: { t: secret() },
      },
      "bottles[0].routes[0].auth.prefix",
      /Basic credentials \(username\) take no prefix/,
    ],
    [
      "a user name with a colon",
      {
        bottles: [bottle({ routes: [route({ auth: { header: "Authorization", username: "a:b", token: "t" } })] })],
        tokens: { t: secret() },
      },
      "bottles[0].routes[0].auth.username",
      /without spaces or ':'/,
    ],
    [
      "a relative workspace path",
      { bottles: [bottle({ agent: { workspace: { path: "work" } } })] },
      "bottles[0].agent.workspace.path",
      /absolute path/,
    ],
    ["a CA validity under a day", { bottles: [bottle({ caValidityHours: 1 })] }, "bottles[0].caValidityHours", /at least 24/],
    [
      "an egress proxy too small for maxBodyMb",
      { bottles: [bottle({ egressProxy: { memoryMb: 256 } })] },
      "bottles[0].egressProxy.memoryMb",
      /^256 MiB cannot hold a request body of maxBodyMb \(32 MiB\), which the egress proxy holds whole while it checks it; set it to at least 288 \(64 \+ 7 x maxBodyMb\), or lower maxBodyMb$/,
    ],
    [
      "a maxBodyMb too large for the default egress proxy",
      { bottles: [bottle({ maxBodyMb: 100 })] },
      "bottles[0].egressProxy.memoryMb",
      /^512 MiB cannot hold a request body of maxBodyMb \(100 MiB\).*at least 764/,
    ],
    ["a docker host that is not a URL", { docker: { host: "myhost" } }, "docker.host", /Docker host URL/],
  ];
  for (const [what, input, path, message] of cases) {
    test(what, () => rejects(input, path, message));
  }

  test("an egress proxy's memory at the floor for its maxBodyMb, or above it, passes", () => {
    for (const [memoryMb, maxBodyMb] of [
      [288, 32],
      [176, 16],
      [512, 64],
      [71, 1],
    ]) {
      const result = validateStackConfig({ bottles: [bottle({ egressProxy: { memoryMb }, maxBodyMb })] });
      assert.ok(result.ok, `${memoryMb} MiB, maxBodyMb ${maxBodyMb}: ${result.ok ? "" : formatProblems(result.problems)}`);
    }
  });

  test("duplicate bottle names", () => {
    rejects({ bottles: [bottle(), bottle()] }, "bottles[1].name", /duplicate bottle name "coder" \(also bottles\[0\]\)/);
  });

  test("reports every problem at once, schema and cross-field alike, sorted by path", () => {
    const found = problems({
      bottles: [bottle({ routes: [route({ host: "A.com" }), route({ auth: { header: "Authorization", token: "gh" } }), route()] })],
      tokens: { other: { secret: false, value: "x" } },
    });
    assert.deepEqual(
      found.map((p) => p.path),
      ["bottles[0].routes[0].host", "bottles[0].routes[1].auth.token", "bottles[0].routes[2].host", "tokens.other"],
    );
  });

  test("never puts a token value in a message", () => {
    const found = problems({ tokens: { github: { secret: false, value: "ghp_supersecretvalue" } } });
    assert.doesNotMatch(formatProblems(found), /ghp_supersecretvalue/);
  });
});

describe("validateStackConfig accepts and normalises", () => {
  test("applies every default", () => {
    const result = validateStackConfig({
      bottles: [bottle({ routes: [route({ auth: { header: "Authorization", token: "gh" } })], agent: { image: "node:22" } })],
      tokens: { gh: secret() },
    });
    assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
    assert.deepEqual(result.value.bottles[0], {
      name: "coder",
      routes: [
        {
          host: "api.github.com",
          ports: [443],
          methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
          auth: { header: "Authorization", prefix: "", token: "gh" },
          bulk: true,
        },
      ],
      agent: {
        image: "node:22",
        user: "1000:1000",
        env: {},
        memoryMb: 2048,
        maxProcesses: 512,
        workspace: { path: "/workspace", keep: true, protect: false },
      },
      egressProxy: { memoryMb: 512 },
      pipelock: { image: DEFAULT_PIPELOCK_IMAGE, memoryMb: 256, settings: {} },
      caValidityHours: 8760,
      requestsPerMinute: 1200,
      maxBodyMb: 32,
      auditMode: false,
      backend: "docker",
      selfTest: true,
    });
  });

  test("a git route: fetch paths for each repository, with and without .git, GET and POST; push adds receive-pack", () => {
    const result = validateStackConfig({
      bottles: [
        bottle({
          routes: [
            route({
              host: "github.com",
              git: { repositories: ["acme/app"], push: true },
              auth: { header: "Authorization", username: "x-access-token", token: "t" },
            }),
            route({ host: "gitlab.example.com", git: { repositories: ["group/sub/lib"] } }),
          ],
        }),
      ],
      tokens: { t: secret() },
    });
    assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
    const [github, gitlab] = result.value.bottles[0]!.routes;
    assert.deepEqual(github!.methods, ["GET", "POST"]);
    assert.deepEqual(github!.paths, [
      "/acme/app.git/info/refs",
      "/acme/app.git/git-upload-pack",
      "/acme/app.git/git-receive-pack",
      "/acme/app/info/refs",
      "/acme/app/git-upload-pack",
      "/acme/app/git-receive-pack",
    ]);
    assert.deepEqual(github!.auth, { header: "Authorization", prefix: "", username: "x-access-token", token: "t" });
    assert.deepEqual(gitlab!.paths, [
      "/group/sub/lib.git/info/refs",
      "/group/sub/lib.git/git-upload-pack",
      "/group/sub/lib/info/refs",
      "/group/sub/lib/git-upload-pack",
    ]);
    // push: true keeps meaning every ref, with creations, deletions and tags; no push is false.
    assert.deepEqual(github!.git!.push, { refs: ["refs/*"], create: true, delete: true, tags: true });
    assert.equal(gitlab!.git!.push, false);
  });

  test("git pushRules: {} is the agent's branches only (creations, no deletes, no tags); each field can be set", () => {
    const pushOf = (pushRules: unknown) => {
      const result = validateStackConfig({
        bottles: [bottle({ routes: [route({ host: "github.com", git: { repositories: ["acme/app"], pushRules } as never })] })],
      });
      assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
      const [github] = result.value.bottles[0]!.routes;
      assert.ok(github!.paths!.includes("/acme/app.git/git-receive-pack"));
      return github!.git!.push;
    };
    assert.deepEqual(pushOf({}), { refs: ["refs/heads/agent/*"], create: true, delete: false, tags: false });
    assert.deepEqual(pushOf({ refs: ["refs/heads/bot/*", "refs/tags/bot-*"], create: false, delete: true, tags: true }), {
      refs: ["refs/heads/bot/*", "refs/tags/bot-*"],
      create: false,
      delete: true,
      tags: true,
    });
  });

  test("an agent without an image uses the bundled one (no image in the spec)", () => {
    const result = validateStackConfig({ bottles: [bottle({ agent: {} })] });
    assert.ok(result.ok);
    assert.equal(result.value.bottles[0]!.agent!.image, undefined);
  });

  test("passthrough applies only to the bottle's own route hosts", () => {
    const result = validateStackConfig({
      bottles: [bottle({ pipelock: { settings: { tls_interception: { passthrough_domains: ["api.github.com", "other.example.com"] } } } })],
    });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, [
      {
        path: "bottles[0].pipelock.settings.tls_interception.passthrough_domains[1]",
        message: '"other.example.com" is not a route host of this bottle; passthrough only applies to hosts the bottle routes',
      },
    ]);
  });

  test("a route without a credential allows ports 80 and 443 by default; one with a credential only 443", () => {
    const result = validateStackConfig({
      bottles: [bottle({ routes: [route(), route({ host: "x.example.com", auth: { header: "X-Api-Key", token: "t" } })] })],
      tokens: { t: secret() },
    });
    assert.ok(result.ok);
    assert.deepEqual(
      result.value.bottles[0]!.routes.map((r) => r.ports),
      [[80, 443], [443]],
    );
  });

  test("a credential route sends it in cleartext on port 80 only when the route says so, as a risk", () => {
    const risky = validateStackConfig({
      bottles: [bottle({ routes: [route({ ports: [80, 443], insecureCleartextPorts: [80], auth: { header: "X-Api-Key", token: "t" } })] })],
      tokens: { t: secret() },
    });
    assert.ok(risky.ok);
    assert.deepEqual(risky.value.bottles[0]!.routes[0]!.insecureCleartextPorts, [80]);
    const silent = validateStackConfig({
      bottles: [bottle({ routes: [route({ ports: [80, 443], auth: { header: "X-Api-Key", token: "t" } })] })],
      tokens: { t: secret() },
    });
    assert.ok(!silent.ok);
    assert.deepEqual(silent.problems, [
      {
        path: "bottles[0].routes[0].ports",
        message:
          "port 80 on a route with a credential can only carry it in cleartext (TLS to port 80 is refused): " +
          "remove 80, or accept the risk with insecureCleartextPorts: [80]",
      },
    ]);
  });

  test("insecureCleartextPorts needs a credential and the route's own ports", () => {
    const result = validateStackConfig({
      bottles: [
        bottle({
          routes: [
            route({ ports: [80], insecureCleartextPorts: [80] }),
            route({ host: "x.example.com", insecureCleartextPorts: [80], auth: { header: "X-Api-Key", token: "t" } }),
          ],
        }),
      ],
      tokens: { t: secret() },
    });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, [
      {
        path: "bottles[0].routes[0].insecureCleartextPorts",
        message: "only a route with auth has a credential to send in cleartext; remove it",
      },
      { path: "bottles[0].routes[1].insecureCleartextPorts[0]", message: "80 is not one of the route's ports" },
    ]);
  });

  test("the agent runs as a numeric uid that is neither root nor a gate's", () => {
    for (const [user, message] of [
      ["node", 'expected "<uid>:<gid>" numbers such as "1000:1000" (a name resolves inside the image, where it could match a gate\'s uid)'],
      ["0:0", "the agent must not run as root (uid 0)"],
      ["65533", "uids 65533, 65532, 65531 belong to the gates (egress proxy, pipelock, pipelock-bulk); pick another uid"],
      ["65532:100", "uids 65533, 65532, 65531 belong to the gates (egress proxy, pipelock, pipelock-bulk); pick another uid"],
      ["65531", "uids 65533, 65532, 65531 belong to the gates (egress proxy, pipelock, pipelock-bulk); pick another uid"],
    ] as const) {
      const result = validateStackConfig({ bottles: [bottle({ agent: { image: "x", user } })] });
      assert.ok(!result.ok, user);
      assert.deepEqual(result.problems, [{ path: "bottles[0].agent.user", message }], user);
    }
    assert.ok(validateStackConfig({ bottles: [bottle({ agent: { image: "x", user: "2000:2000" } })] }).ok);
  });

  test("keeps the stack-level docker host", () => {
    const result = validateStackConfig({ bottles: [bottle()], docker: { host: "ssh://deploy@box" } });
    assert.ok(result.ok);
    assert.deepEqual(result.value.docker, { host: "ssh://deploy@box" });
  });
});

describe("validateBottle", () => {
  test("reports paths relative to the bottle", () => {
    const result = validateBottle("x", { routes: [route({ auth: { header: "Authorization", token: "gh" } })] }, new Set());
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.problems.map((p) => p.path), ["routes[0].auth.token"]);
  });
});

describe("validateStackConfig: the Kubernetes backend", () => {
  const IMAGE_REQUIRED =
    "required on Kubernetes: a cluster cannot use an image built where Pulumi runs; build it, push it to a registry " +
    "the cluster pulls from, and set its reference (pinned by digest)";
  const images = { egressProxy: { image: "registry.example/egress-proxy@sha256:aa" } };
  const k8s = (extra: Record<string, unknown> = {}) => bottle({ backend: "kubernetes", ...images, ...extra });
  const problemsOf = (input: Partial<StackConfigInput>) => problems(input).map(({ path, message }) => [path, message]);

  test("rejects, each at its exact path", () => {
    const cases: [string, Partial<StackConfigInput>, [string, string][]][] = [
      ["no egress-proxy image", { bottles: [bottle({ backend: "kubernetes" })] }, [["bottles[0].egressProxy.image", IMAGE_REQUIRED]]],
      [
        "no egress-proxy image, the backend from the stack",
        { bottles: [bottle()], backend: "kubernetes" },
        [["bottles[0].egressProxy.image", IMAGE_REQUIRED]],
      ],
      ["an agent without an image", { bottles: [k8s({ agent: {} })] }, [["bottles[0].agent.image", IMAGE_REQUIRED]]],
      [
        "neither image",
        { bottles: [bottle({ backend: "kubernetes", agent: { user: "2000:2000" } })] },
        [
          ["bottles[0].agent.image", IMAGE_REQUIRED],
          ["bottles[0].egressProxy.image", IMAGE_REQUIRED],
        ],
      ],
      [
        "a Docker engine on a Kubernetes bottle",
        { bottles: [k8s({ docker: { host: "ssh://deploy@box" } })] },
        [["bottles[0].docker", "a bottle on Kubernetes has no Docker engine; remove docker (or set backend: docker)"]],
      ],
      [
        "a cluster on a Docker bottle",
        { bottles: [bottle({ backend: "docker", kubernetes: { context: "x" } })] },
        [["bottles[0].kubernetes", "applies to backend kubernetes only; set backend: kubernetes, or remove it"]],
      ],
      [
        "a cluster on a bottle of the default backend",
        { bottles: [bottle({ kubernetes: { storageClass: "fast" } })] },
        [["bottles[0].kubernetes", "applies to backend kubernetes only; set backend: kubernetes, or remove it"]],
      ],
      [
        "a cluster on a bottle that overrides the stack's kubernetes backend with docker",
        { bottles: [bottle({ backend: "docker", kubernetes: { context: "x" } })], backend: "kubernetes" },
        [["bottles[0].kubernetes", "applies to backend kubernetes only; set backend: kubernetes, or remove it"]],
      ],
      [
        "a host directory as workspace",
        { bottles: [k8s({ agent: { image: "a@sha256:bb", workspace: { hostPath: "/srv/work" } } })] },
        [
          [
            "bottles[0].agent.workspace.hostPath",
            'a node\'s directory cannot be mounted on Kubernetes (Pod Security "restricted"); remove it: the workspace is a claim (kubernetes.storageClass)',
          ],
        ],
      ],
      [
        "a bad CIDR among the private ranges",
        { bottles: [k8s({ kubernetes: { privateCidrs: ["10.0.0.0/8", "10.0.0.0/33"] } })] },
        [["bottles[0].kubernetes.privateCidrs[1]", 'expected an IPv4 CIDR such as "10.96.0.0/12"']],
      ],
      [
        "an address without a prefix length in the stack's private ranges",
        { bottles: [k8s()], kubernetes: { privateCidrs: ["169.254.169.254"] } },
        [["kubernetes.privateCidrs[0]", 'expected an IPv4 CIDR such as "10.96.0.0/12"']],
      ],
      [
        "an empty private range list",
        { bottles: [k8s({ kubernetes: { privateCidrs: [] } })] },
        [["bottles[0].kubernetes.privateCidrs", "expected at least 1 entry"]],
      ],
      [
        "an unknown key under kubernetes",
        { bottles: [k8s({ kubernetes: { contxt: "x" } })] },
        [
          [
            "bottles[0].kubernetes.contxt",
            'unknown key (did you mean "context"?): a typo here must not silently change what a bottle allows',
          ],
        ],
      ],
      [
        "an unknown key under the stack's kubernetes",
        { bottles: [k8s()], kubernetes: { namespace: "x" } },
        [
          [
            "kubernetes.namespace",
            "unknown key: a typo here must not silently change what a bottle allows; expected one of kubeconfig, context, privateCidrs, storageClass, workspaceSizeGb, metrics",
          ],
        ],
      ],
      [
        "an unknown backend",
        { bottles: [bottle({ backend: "nomad" })] },
        [["bottles[0].backend", 'expected one of "docker", "kubernetes"']],
      ],
      [
        "a workspace size of 0",
        { bottles: [k8s({ kubernetes: { workspaceSizeGb: 0 } })] },
        [["bottles[0].kubernetes.workspaceSizeGb", "expected at least 1"]],
      ],
      [
        "a scraper namespace that is no namespace name",
        { bottles: [k8s({ kubernetes: { metrics: { scraperNamespace: "Monitoring" } } })] },
        [["bottles[0].kubernetes.metrics.scraperNamespace", 'expected a namespace name such as "monitoring"']],
      ],
    ];
    for (const [what, input, expected] of cases) assert.deepEqual(problemsOf(input), expected, what);
  });

  test("the stack's backend and cluster reach every bottle that sets none; a bottle's own fields override per field", () => {
    const result = validateStackConfig({
      backend: "kubernetes",
      kubernetes: { context: "x", storageClass: "standard", privateCidrs: ["10.0.0.0/8"] },
      bottles: [
        bottle({ name: "plain", ...images }),
        bottle({ name: "own", ...images, kubernetes: { storageClass: "fast", workspaceSizeGb: 50 } }),
        bottle({ name: "other", ...images, kubernetes: { context: "y", privateCidrs: ["192.168.0.0/16"] } }),
        bottle({ name: "local", backend: "docker" }),
      ],
    });
    assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
    assert.deepEqual(
      result.value.bottles.map((b) => [b.name, b.backend, b.kubernetes]),
      [
        ["plain", "kubernetes", { context: "x", storageClass: "standard", privateCidrs: ["10.0.0.0/8"] }],
        ["own", "kubernetes", { context: "x", storageClass: "fast", privateCidrs: ["10.0.0.0/8"], workspaceSizeGb: 50 }],
        ["other", "kubernetes", { context: "y", storageClass: "standard", privateCidrs: ["192.168.0.0/16"] }],
        ["local", "docker", undefined],
      ],
    );
    assert.equal(result.value.backend, "kubernetes");
    assert.deepEqual(result.value.kubernetes, { context: "x", storageClass: "standard", privateCidrs: ["10.0.0.0/8"] });
  });

  test("a Kubernetes bottle's whole spec: images kept, no docker, the cluster from the stack", () => {
    const result = validateStackConfig({
      backend: "kubernetes",
      kubernetes: { context: "x" },
      bottles: [bottle({ ...images, agent: { image: "registry.example/agent@sha256:bb" } })],
    });
    assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
    assert.deepEqual(result.value.bottles[0], {
      name: "coder",
      routes: [
        { host: "api.github.com", ports: [80, 443], methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], bulk: true },
      ],
      agent: {
        image: "registry.example/agent@sha256:bb",
        user: "1000:1000",
        env: {},
        memoryMb: 2048,
        maxProcesses: 512,
        workspace: { path: "/workspace", keep: true, protect: false },
      },
      egressProxy: { image: "registry.example/egress-proxy@sha256:aa", memoryMb: 512 },
      pipelock: { image: DEFAULT_PIPELOCK_IMAGE, memoryMb: 256, settings: {} },
      caValidityHours: 8760,
      requestsPerMinute: 1200,
      maxBodyMb: 32,
      auditMode: false,
      backend: "kubernetes",
      kubernetes: { context: "x" },
      selfTest: true,
    });
  });

  test("a Kubernetes bottle with no cluster config anywhere gets an empty one; the stack's Docker engine is not its", () => {
    const result = validateStackConfig({ backend: "kubernetes", docker: { host: "ssh://deploy@box" }, bottles: [bottle(images)] });
    assert.ok(result.ok, result.ok ? "" : formatProblems(result.problems));
    assert.deepEqual(result.value.bottles[0]!.kubernetes, {});
    assert.equal(result.value.bottles[0]!.docker, undefined);
  });

  test("validateBottle: the same rules, paths relative to the bottle", () => {
    const result = validateBottle(
      "x",
      { backend: "kubernetes", routes: [route()], agent: {}, docker: { host: "unix:///var/run/docker.sock" } },
      new Set(),
    );
    assert.ok(!result.ok);
    assert.deepEqual(
      result.problems.map((p) => p.path),
      ["agent.image", "docker", "egressProxy.image"],
    );
  });
});
