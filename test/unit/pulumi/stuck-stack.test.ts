/**
 * scripts/stuck-stack.ts, its pure parts: the pending operations of a stack export, a DIY lock
 * file, whose lock it is, the file backend's directory, and what it tells the user.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  advice,
  fileBackendDir,
  type Findings,
  lockHolder,
  parseLock,
  pendingOperations,
  type StackLock,
} from "../../../scripts/stuck-stack";

const URN = "urn:pulumi:dev::bot-bottle::bot-bottle:index:BottleStack$docker:index/container:Container::dev-egress-proxy";
const PROVIDER = "urn:pulumi:dev::bot-bottle::pulumi:providers:docker::default";
const VOLUME_URN = "urn:pulumi:dev::bot-bottle::bot-bottle:index:BottleStack$docker:index/volume:Volume::a-workspace";
const NETWORK_URN = "urn:pulumi:dev::bot-bottle::bot-bottle:index:BottleStack$docker:index/network:Network::a-agent-net";

describe("pendingOperations", () => {
  const cases: { name: string; exported: unknown; expected: ReturnType<typeof pendingOperations> }[] = [
    { name: "no deployment", exported: {}, expected: [] },
    { name: "null", exported: null, expected: [] },
    { name: "none pending", exported: { deployment: { resources: [] } }, expected: [] },
    { name: "an empty list", exported: { deployment: { pending_operations: [] } }, expected: [] },
    {
      name: "a create with its name, on the engine its provider names",
      exported: {
        deployment: {
          resources: [{ urn: PROVIDER, inputs: { host: "ssh://deploy@docker.example.com" } }],
          pending_operations: [
            {
              type: "creating",
              resource: {
                urn: URN,
                type: "docker:index/container:Container",
                inputs: { name: "dev-egress-proxy-1a2b3c4" },
                provider: `${PROVIDER}::04da6b54-80e4-46f7-96ec-b56ff0331ba9`,
              },
            },
          ],
        },
      },
      expected: [
        {
          urn: URN,
          operation: "creating",
          type: "docker:index/container:Container",
          name: "dev-egress-proxy-1a2b3c4",
          dockerHost: "ssh://deploy@docker.example.com",
        },
      ],
    },
    {
      name: "a provider without a host: the default engine",
      exported: {
        deployment: {
          resources: [{ urn: PROVIDER, inputs: {} }],
          pending_operations: [
            { type: "deleting", resource: { urn: URN, type: "docker:index/container:Container", provider: `${PROVIDER}::1` } },
          ],
        },
      },
      expected: [{ urn: URN, operation: "deleting", type: "docker:index/container:Container" }],
    },
    {
      name: "an update without a name",
      exported: {
        deployment: {
          pending_operations: [
            { type: "updating", resource: { urn: "urn:a::b::command:local:Command::x", type: "command:local:Command" } },
          ],
        },
      },
      expected: [{ urn: "urn:a::b::command:local:Command::x", operation: "updating", type: "command:local:Command" }],
    },
    {
      name: "entries without a urn or a type are left out",
      exported: { deployment: { pending_operations: [{ type: "creating", resource: {} }, { resource: { urn: URN } }, "x"] } },
      expected: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(pendingOperations(c.exported), c.expected));
});

describe("parseLock", () => {
  const file = "/b/.pulumi/locks/organization/bot-bottle/dev/1.json";
  const cases: { name: string; text: string; expected: ReturnType<typeof parseLock> }[] = [
    {
      name: "what Pulumi 3.259 writes",
      text: '{"pid":26048,"username":"root","hostname":"vm","timestamp":"2026-12-06T18:11:02.700140642Z"}',
      expected: { file, pid: 26048, username: "root", hostname: "vm", timestamp: "2026-12-06T18:11:02.700140642Z" },
    },
    {
      name: "no username or time",
      text: '{"pid":7,"hostname":"vm"}',
      expected: { file, pid: 7, username: "?", hostname: "vm", timestamp: "?" },
    },
    { name: "not JSON", text: "{pid", expected: { file, problem: "not JSON" } },
    { name: "JSON null", text: "null", expected: { file, problem: "no pid" } },
    { name: "a pid that is a string", text: '{"pid":"7","hostname":"vm"}', expected: { file, problem: "no pid" } },
    { name: "pid 0", text: '{"pid":0,"hostname":"vm"}', expected: { file, problem: "no pid" } },
    { name: "no hostname", text: '{"pid":7}', expected: { file, problem: "no hostname" } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseLock(file, c.text), c.expected));
});

describe("lockHolder", () => {
  const lock: StackLock = { file: "f", pid: 42, username: "u", hostname: "vm", timestamp: "t" };
  const cases: { name: string; host: string; running: number[]; expected: string }[] = [
    { name: "this host, a pulumi process with that pid", host: "vm", running: [42], expected: "running" },
    { name: "this host, no such pulumi process", host: "vm", running: [41], expected: "gone" },
    { name: "another host: cannot be told, even if the pid runs here", host: "ci-7", running: [42], expected: "elsewhere" },
  ];
  for (const c of cases)
    it(c.name, () =>
      assert.equal(
        lockHolder(lock, c.host, (pid) => c.running.includes(pid)),
        c.expected,
      ),
    );
});

describe("fileBackendDir", () => {
  const cases: [string, string | undefined][] = [
    ["file://~", "/home/u"],
    ["file://~/state", "/home/u/state"],
    ["file:///srv/pulumi", "/srv/pulumi"],
    ["file:///srv/pulumi?no_tmp_dir=true", "/srv/pulumi"],
    ["s3://bucket/prefix", undefined],
    ["https://api.pulumi.com", undefined],
    ["", undefined],
  ];
  for (const [url, expected] of cases) it(url || "(unset)", () => assert.equal(fileBackendDir(url, "/home/u"), expected));
});

describe("advice", () => {
  const none: Findings = { stack: "dev", operation: "up", locks: [], unreadableLocks: [], pending: [], onEngine: {} };
  const lock: StackLock = { file: "/b/l.json", pid: 42, username: "root", hostname: "vm", timestamp: "2026-12-06T18:11:02Z" };
  const STALE_LOCK = [
    "stack dev is locked by pulumi (pid 42, root@vm, since 2026-12-06T18:11:02Z), and that process is gone: it was killed before it could unlock (lock file /b/l.json).",
    "  Remove the stale lock (it changes no resource; any pending operations below remain to be settled):",
    "    scripts/pulumi cancel --yes --stack dev",
    "  or remove that one file: rm '/b/l.json'",
  ];
  const create = { urn: URN, operation: "creating", type: "docker:index/container:Container", name: "dev-egress-proxy-1a2b3c4" };
  const cases: { name: string; findings: Findings; stop: boolean; message: string }[] = [
    { name: "nothing to say", findings: none, stop: false, message: "" },
    {
      name: "a lock held by a run still going",
      findings: { ...none, locks: [{ lock, holder: "running" }] },
      stop: true,
      message: [
        "stack dev is locked by a run that is still going: pulumi (pid 42, root@vm, since 2026-12-06T18:11:02Z), lock file /b/l.json.",
        "  Wait for it to end: two runs of one stack at once are refused (the second would overwrite the first's state).",
      ].join("\n"),
    },
    {
      name: "a stale lock, before preview: told, and the preview runs (it takes no lock)",
      findings: { ...none, operation: "preview", locks: [{ lock, holder: "gone" }] },
      stop: false,
      message: [...STALE_LOCK].join("\n"),
    },
    {
      name: "a lock of another host, before refresh",
      findings: { ...none, operation: "refresh", locks: [{ lock: { ...lock, hostname: "ci-7" }, holder: "elsewhere" }] },
      stop: true,
      message: [
        "stack dev is locked by pulumi (pid 42, root@ci-7, since 2026-12-06T18:11:02Z), on another host: this one cannot tell whether it still runs (lock file /b/l.json).",
        "  Ask on ci-7; only once that run is over:",
        "  Remove the stale lock (it changes no resource; any pending operations below remain to be settled):",
        "    scripts/pulumi cancel --yes --stack dev",
        "  or remove that one file: rm '/b/l.json'",
      ].join("\n"),
    },
    {
      name: "a lock file that is not Pulumi's",
      findings: { ...none, unreadableLocks: [{ file: "/b/x.json", problem: "not JSON" }] },
      stop: true,
      message:
        "stack dev has a lock file Pulumi did not write as expected (not JSON): /b/x.json. Look at it; remove it only if no run is going.",
    },
    {
      name: "pending creates on the engine, before up: the container, then the network removed, the volume kept",
      findings: {
        ...none,
        pending: [
          { ...create, dockerHost: "ssh://deploy@docker.example.com" },
          { urn: NETWORK_URN, operation: "creating", type: "docker:index/network:Network", name: "dev-a-agent-net" },
          { urn: VOLUME_URN, operation: "creating", type: "docker:index/volume:Volume", name: "dev-a-workspace" },
        ],
        onEngine: { [URN]: "9f0c", [NETWORK_URN]: "77ab", [VOLUME_URN]: "dev-a-workspace" },
      },
      stop: true,
      message: [
        "the last run of stack dev was interrupted with 3 operation(s) unfinished; each may or may not have happened on the engine:",
        "  - creating docker:index/container:Container dev-egress-proxy-1a2b3c4, on the engine as 9f0c",
        "  - creating docker:index/network:Network dev-a-agent-net, on the engine as 77ab",
        "  - creating docker:index/volume:Volume dev-a-workspace, on the engine as dev-a-workspace",
        "  Remove the container(s) the interrupted creates left on the engine (in no state; the next up makes them again):",
        "    docker -H ssh://deploy@docker.example.com container rm -f dev-egress-proxy-1a2b3c4",
        "  Remove the network(s) the interrupted creates left on the engine (in no state; the next up makes them again):",
        "    docker network rm dev-a-agent-net",
        "  Keep the volume(s) dev-a-workspace: the next up takes them over by name.",
        "  Settle them with a refresh, which reads every resource back from the engine:",
        "    scripts/pulumi refresh --yes --clear-pending-creates --stack dev",
        "  then bring the stack to its config again:\n    scripts/pulumi up --stack dev",
        "  (scripts/pulumi up waits for this: it would act on a state that is not the truth.)",
      ].join("\n"),
    },
    {
      name: "a stale lock and a container left, before destroy: the lock first",
      findings: { ...none, operation: "destroy", locks: [{ lock, holder: "gone" }], pending: [create], onEngine: { [URN]: "9f0c" } },
      stop: true,
      message: [
        ...STALE_LOCK,
        "the last run of stack dev was interrupted with 1 operation(s) unfinished; each may or may not have happened on the engine:",
        "  - creating docker:index/container:Container dev-egress-proxy-1a2b3c4, on the engine as 9f0c",
        "  Remove the container(s) the interrupted creates left on the engine (in no state; the next up makes them again):",
        "    docker container rm -f dev-egress-proxy-1a2b3c4",
        "  Settle them with a refresh, which reads every resource back from the engine:",
        "    scripts/pulumi refresh --yes --clear-pending-creates --stack dev",
        "  then bring the stack to its config again:\n    scripts/pulumi up --stack dev",
      ].join("\n"),
    },
    {
      name: "a pending create that is not on the engine and a pending update, before preview: cleared, and the preview runs",
      findings: {
        ...none,
        operation: "preview",
        pending: [
          create,
          { urn: "urn:a::b::command:local:Command::dev-egress-proxy-config-apply", operation: "updating", type: "command:local:Command" },
        ],
      },
      stop: false,
      message: [
        "the last run of stack dev was interrupted with 2 operation(s) unfinished; each may or may not have happened on the engine:",
        "  - creating docker:index/container:Container dev-egress-proxy-1a2b3c4, not on the engine",
        "  - updating command:local:Command dev-egress-proxy-config-apply",
        "  Settle them with a refresh, which reads every resource back from the engine:",
        "    scripts/pulumi refresh --yes --clear-pending-creates --stack dev",
        "  then bring the stack to its config again:\n    scripts/pulumi up --stack dev",
      ].join("\n"),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = advice(c.findings);
      assert.equal(got.message, c.message);
      assert.equal(got.stop, c.stop);
    });
  }
});
