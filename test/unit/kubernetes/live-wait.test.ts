/**
 * The live configuration's wait on Kubernetes (live-wait.sh): the document's hash, and the
 * script itself run by a real shell against a stand-in `kubectl` that answers from files and
 * records its command lines: which lines confirm, which refuse, the bound, and the kubeconfig
 * kept off every command line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { documentHash, LIVE_WAIT_SCRIPT } from "../../../components/kubernetes/live-wait/live-wait";

describe("documentHash: the sha256 of the document's UTF-8 bytes, as the gates log it", () => {
  const cases: [string, string][] = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["version: 1\n", "09bfcc6a14b83e2192b8673677725c84883ee9cd0c70e45c9ec09daa8f2b2847"],
    // Non-ASCII: the file's bytes, not its characters (Python's hashlib.sha256(text.encode())).
    ["routes:\n  - host: bücher.example\n", "d58434fa98b5ef7bd6ea3f77e2ef7317405d5305d285cd83b77756b1d142b436"],
  ];
  for (const [text, hash] of cases) test(JSON.stringify(text), () => assert.equal(documentHash(text), hash));
});

const HASH = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const SINCE = "2026-12-06T18:10:22Z";

/** A `kubectl` that answers from the files in $FAKE and appends each command line to $FAKE/calls. */
const FAKE_KUBECTL = `#!/bin/sh
printf '%s\\n' "$*" >>"$FAKE/calls"
prev=""
for a in "$@"; do
  case "$prev" in
  --kubeconfig) { stat -c %a "$a"; cat "$a"; } >"$FAKE/kubeconfig-seen" ;;
  get) object=$a ;;
  logs) pod=$a ;;
  esac
  prev=$a
done
case "$*" in
*"get pods"*) cat "$FAKE/pods" ;;
*" get "*) cat "$FAKE/time-$(echo "$object" | tr / -)" ;;
*"-c reloader"*) echo '{"event": "config_change_pending", "reason": "not_found"}' ;;
*" logs "*)
  echo x >>"$FAKE/reads-$pod"
  if [ -f "$FAKE/logs-$pod-later" ] && [ "$(wc -l <"$FAKE/reads-$pod")" -ge 2 ]; then cat "$FAKE/logs-$pod-later"; else cat "$FAKE/logs-$pod"; fi ;;
esac
`;

interface Cluster {
  /** `<name> [deletionTimestamp]` per pod. */
  pods: string[];
  /** Each pod's gate log since the change; `later`: what it logs from the second read on. */
  logs: Record<string, string[]>;
  later?: Record<string, string[]>;
  times?: Record<string, string[]>;
  env?: Record<string, string>;
  noKubectl?: boolean;
}

function runWait(cluster: Cluster): { code: number | null; stdout: string; stderr: string; calls: string[]; kubeconfigSeen?: string } {
  const fake = fs.mkdtempSync(path.join(os.tmpdir(), "live-wait-"));
  try {
    const bin = path.join(fake, "bin");
    fs.mkdirSync(bin);
    if (!cluster.noKubectl) fs.writeFileSync(path.join(bin, "kubectl"), FAKE_KUBECTL, { mode: 0o755 });
    fs.writeFileSync(path.join(fake, "pods"), cluster.pods.map((p) => `${p}\n`).join(""));
    const times = cluster.times ?? { "configmap-egress-proxy-config": ["2026-12-06T17:00:00Z", SINCE], "secret-egress-proxy-tokens": [] };
    for (const [object, lines] of Object.entries(times))
      fs.writeFileSync(path.join(fake, `time-${object}`), lines.map((l) => `${l}\n`).join(""));
    for (const [pod, lines] of Object.entries(cluster.logs))
      fs.writeFileSync(path.join(fake, `logs-${pod}`), lines.map((l) => `${l}\n`).join(""));
    for (const [pod, lines] of Object.entries(cluster.later ?? {}))
      fs.writeFileSync(path.join(fake, `logs-${pod}-later`), lines.map((l) => `${l}\n`).join(""));
    const r = spawnSync("/bin/sh", ["-c", LIVE_WAIT_SCRIPT], {
      encoding: "utf8",
      timeout: 20_000,
      env: {
        PATH: cluster.noKubectl ? bin : `${bin}:/usr/bin:/bin`,
        FAKE: fake,
        BOTTLE_STACK: "dev",
        BOTTLE_NAME: "coder",
        BOTTLE_ROLE: "egress-proxy",
        BOTTLE_NAMESPACE: "dev-coder",
        BOTTLE_SELECTOR: "bot-bottle.role=egress-proxy",
        BOTTLE_OBJECTS: "configmap/egress-proxy-config secret/egress-proxy-tokens",
        BOTTLE_CONFIG_HASH: HASH,
        BOTTLE_WAIT_SECONDS: "5",
        ...cluster.env,
      },
    });
    const read = (file: string) => (fs.existsSync(path.join(fake, file)) ? fs.readFileSync(path.join(fake, file), "utf8") : undefined);
    return {
      code: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      calls: (read("calls") ?? "").split("\n").filter(Boolean),
      ...(read("kubeconfig-seen") !== undefined && { kubeconfigSeen: read("kubeconfig-seen") }),
    };
  } finally {
    fs.rmSync(fake, { recursive: true, force: true });
  }
}

const reload = (status: string, hash?: string) =>
  JSON.stringify({ event: "config_reload", status, detail: "3 routes", ...(hash && { config_hash: hash }) });
// pipelock's own lines, as it writes them (zerolog, compact).
const pipelockReload = (hash: string) =>
  `{"level":"info","component":"pipelock","event":"config_reload","status":"success","detail":"mode=strict","config_hash":"${hash}","time":"2026-12-06T18:10:30Z","message":"configuration reloaded"}`;
const pipelockStartup = (hash: string) =>
  `{"level":"info","component":"pipelock","event":"startup","listen":"0.0.0.0:8888","mode":"strict","version":"2.3.0","config_hash":"${hash}","time":"2026-12-06T18:10:30Z","message":"pipelock started"}`;
const decision = '{"decision":"allow","by":"egress-proxy","reason":"allowed","host":"api.example.com"}';

describe("live-wait.sh: which lines confirm the document", () => {
  const confirmed: [string, string[]][] = [
    ["the egress proxy's reload with the hash", [decision, reload("success", HASH)]],
    [
      "the egress proxy's startup line with the hash (a pod started after the change)",
      [JSON.stringify({ event: "startup", detail: "3 routes", config_hash: HASH })],
    ],
    ["pipelock's reload with the hash", [pipelockReload(HASH)]],
    ["pipelock's startup line with the hash", [pipelockStartup(HASH)]],
    ["a reload of an older document, then the new one", [reload("success", OTHER), reload("success", HASH)]],
  ];
  for (const [what, lines] of confirmed) {
    test(`confirmed: ${what}`, () => {
      const r = runWait({ pods: ["egress-proxy-1"], logs: { "egress-proxy-1": lines } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `bot-bottle live config: dev/coder egress-proxy: sha256 ${HASH} loaded by 1 pod(s): egress-proxy-1\n`);
    });
  }

  const refused: [string, string[], RegExp][] = [
    [
      "the egress proxy's rejected reload",
      [reload("rejected")],
      /"status":"rejected".*\n.*pod egress-proxy-1 refused the new configuration \(sha256 a{0}(ab)+; its lines above\): it keeps serving its previous one until it restarts, and then refuses to start; fix the configuration and run up again/,
    ],
    [
      "pipelock's refused load (stderr)",
      ["pipelock: config reload failed: parsing config: yaml: line 3"],
      /config reload failed[\s\S]*refused the new configuration/,
    ],
    [
      "pipelock's refused downgrade",
      [
        '{"level":"error","event":"error","method":"CONFIG_RELOAD","resource":"/etc/pipelock/live/pipelock.yaml","error":"rejected: security downgrade from strict mode"}',
      ],
      /security downgrade[\s\S]*refused the new configuration/,
    ],
    [
      "a restarted gate that refuses to start on it",
      ["egress-proxy: refusing to start: routes.yaml: bad"],
      /refusing to start[\s\S]*refused the new configuration/,
    ],
  ];
  for (const [what, lines, message] of refused) {
    test(`refused at once: ${what}`, () => {
      const started = Date.now();
      const r = runWait({ pods: ["egress-proxy-1"], logs: { "egress-proxy-1": lines } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^bot-bottle live config: dev\/coder egress-proxy: pod egress-proxy-1 refused/m);
      assert.ok(Date.now() - started < 3000, "a refusal does not wait out the bound");
    });
  }

  const waiting: [string, string[]][] = [
    ["nothing since the change", []],
    ["a reload of another document", [reload("success", OTHER)]],
    ["pipelock's startup line of another document", [pipelockStartup(OTHER)]],
    ["the hash in a line that is no reload", [`${decision} ${HASH}`, JSON.stringify({ event: "config_change", config_hash: HASH })]],
  ];
  for (const [what, lines] of waiting) {
    test(`not confirmed, within the bound: ${what}`, () => {
      const r = runWait({ pods: ["egress-proxy-1"], logs: { "egress-proxy-1": lines }, env: { BOTTLE_WAIT_SECONDS: "0" } });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `its last reload lines \\(kubectl logs -n dev-coder egress-proxy-1 -c egress-proxy\\):\\n[\\s\\S]*and its reloader's \\(-c reloader\\):\\n.*config_change_pending.*\\n` +
            `bot-bottle live config: dev/coder egress-proxy: pod egress-proxy-1 did not confirm the new configuration \\(sha256 ${HASH}\\) within 0 s \\(kubelet swaps a mounted ConfigMap at its next sync; its reloader then signals the gate\\); run up again to wait again\\n$`,
        ),
      );
    });
  }

  test("a pod that confirms on a later read: waited for, then up goes on", () => {
    const r = runWait({ pods: ["egress-proxy-1"], logs: { "egress-proxy-1": [] }, later: { "egress-proxy-1": [reload("success", HASH)] } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.calls.filter((c) => c.includes("logs egress-proxy-1")).length, 2);
  });

  test("every pod must confirm; a pod going away (a rollout's old one) is not waited for", () => {
    const r = runWait({
      pods: ["egress-proxy-old 2026-12-06T18:10:25Z", "egress-proxy-a", "egress-proxy-b"],
      logs: { "egress-proxy-a": [reload("success", HASH)], "egress-proxy-b": [reload("success", OTHER)] },
      env: { BOTTLE_WAIT_SECONDS: "0" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pod egress-proxy-b did not confirm/);
    assert.ok(!r.calls.some((c) => c.includes("egress-proxy-old")), r.calls.join("\n"));
  });

  test("no pod of the gate: a failure, not a confirmation", () => {
    const r = runWait({ pods: ["egress-proxy-old 2026-12-06T18:10:25Z"], logs: {} });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^bot-bottle live config: dev\/coder egress-proxy: no running pod of the gate \(bot-bottle\.role=egress-proxy\) in namespace dev-coder to confirm the new configuration$/m,
    );
  });

  test("no kubectl: a failure that says up needs it", () => {
    const r = runWait({ pods: [], logs: {}, noKubectl: true });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /kubectl is not on PATH: on Kubernetes, up needs kubectl to confirm that the gates loaded the new configuration; install it/,
    );
  });
});

describe("live-wait.sh: its kubectl command lines", () => {
  test("the change time from both objects (the latest), the pods by selector, each pod's gate log since then", () => {
    const r = runWait({
      pods: ["egress-proxy-1"],
      logs: { "egress-proxy-1": [reload("success", HASH)] },
      times: { "configmap-egress-proxy-config": ["2026-12-06T17:00:00Z"], "secret-egress-proxy-tokens": ["2026-12-06T16:00:00Z", SINCE] },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.calls, [
      '-n dev-coder get configmap/egress-proxy-config -o jsonpath={range .metadata.managedFields[*]}{.time}{"\\n"}{end}',
      '-n dev-coder get secret/egress-proxy-tokens -o jsonpath={range .metadata.managedFields[*]}{.time}{"\\n"}{end}',
      '-n dev-coder get pods -l bot-bottle.role=egress-proxy -o jsonpath={range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\\n"}{end}',
      `-n dev-coder logs egress-proxy-1 -c egress-proxy --since-time=${SINCE}`,
    ]);
  });

  test("no change time: a failure naming the objects", () => {
    const r = runWait({
      pods: ["egress-proxy-1"],
      logs: {},
      times: { "configmap-egress-proxy-config": [], "secret-egress-proxy-tokens": [] },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no change time on configmap\/egress-proxy-config secret\/egress-proxy-tokens in namespace dev-coder/);
  });

  test("a kubeconfig path and a context: passed as flags", () => {
    const r = runWait({
      pods: ["egress-proxy-1"],
      logs: { "egress-proxy-1": [reload("success", HASH)] },
      env: { BOTTLE_KUBECONFIG: "/etc/kube/config", BOTTLE_CONTEXT: "prod" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.calls.every((c) => c.startsWith("--kubeconfig /etc/kube/config --context prod -n dev-coder ")),
      r.calls.join("\n"),
    );
  });

  test("a kubeconfig's contents: a private file (0600), never on a command line, removed after", () => {
    const contents = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: secret-kube-token}}]";
    const r = runWait({
      pods: ["egress-proxy-1"],
      logs: { "egress-proxy-1": [reload("success", HASH)] },
      env: { BOTTLE_KUBECONFIG: contents },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.kubeconfigSeen, `600\n${contents}\n`);
    assert.ok(!r.calls.join("\n").includes("secret-kube-token"));
    const file = r.calls[0]!.split(" ")[1]!;
    assert.match(file, /\/kubeconfig$/);
    assert.equal(fs.existsSync(file), false, "the kubeconfig file outlived the wait");
  });
});
