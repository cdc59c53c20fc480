/**
 * What one run of the end-to-end suite shares between its test files, set by test/e2e/run.ts:
 * the run id (in every stack, Docker object and image tag the run makes), its work directory,
 * the passphrase of its file backend, its private PULUMI_HOME and the images it built.
 */
import * as path from "node:path";

export interface E2eImages {
  /**
   * The egress proxy, prebuilt for the stacks that do not build it themselves, with the test
   * upstream's CA in its trust store (for hosts pipelock passes through).
   */
  egressProxy: string;
  /** The real pipelock, built from source, plus the test upstream's CA in its trust store. */
  pipelock: string;
  /** A small agent: curl, python3, git; uid 1000. */
  probe: string;
  /** The real agent image (components/agent/image: Claude Code, git, Node 22). */
  agent: string;
  /** The "internet": HTTP and HTTPS, recording every request. */
  upstream: string;
  /** TEST fault: the egress proxy started on an invalid routes file. */
  brokenEgressProxy: string;
  /** A Docker engine reachable only over SSH (remote.test.ts). */
  remoteHost: string;
}

export interface E2eRun {
  id: string;
  workDir: string;
  passphrase: string;
  pulumiHome: string;
  images: E2eImages;
}

const VARIABLES = {
  id: "E2E_RUN",
  workDir: "E2E_WORK",
  passphrase: "E2E_PASSPHRASE",
  pulumiHome: "E2E_PULUMI_HOME",
  egressProxy: "E2E_IMAGE_EGRESS_PROXY",
  pipelock: "E2E_IMAGE_PIPELOCK",
  probe: "E2E_IMAGE_PROBE",
  agent: "E2E_IMAGE_AGENT",
  upstream: "E2E_IMAGE_UPSTREAM",
  brokenEgressProxy: "E2E_IMAGE_BROKEN_EGRESS_PROXY",
  remoteHost: "E2E_IMAGE_REMOTE_HOST",
} as const;

/** The current run, from the environment test/e2e/run.ts gives its test files. */
export function e2eRun(): E2eRun {
  const get = (key: keyof typeof VARIABLES) => {
    const value = process.env[VARIABLES[key]];
    if (!value) throw new Error(`${VARIABLES[key]} is not set: run the end-to-end suite with \`npm run test:e2e\` (test/e2e/run.ts)`);
    return value;
  };
  return {
    id: get("id"),
    workDir: path.resolve(get("workDir")),
    passphrase: get("passphrase"),
    pulumiHome: path.resolve(get("pulumiHome")),
    images: {
      egressProxy: get("egressProxy"),
      pipelock: get("pipelock"),
      probe: get("probe"),
      agent: get("agent"),
      upstream: get("upstream"),
      brokenEgressProxy: get("brokenEgressProxy"),
      remoteHost: get("remoteHost"),
    },
  };
}

/** The environment that makes `run` what e2eRun() reads. */
export function e2eRunEnv(run: E2eRun): Record<string, string> {
  return {
    [VARIABLES.id]: run.id,
    [VARIABLES.workDir]: run.workDir,
    [VARIABLES.passphrase]: run.passphrase,
    [VARIABLES.pulumiHome]: run.pulumiHome,
    [VARIABLES.egressProxy]: run.images.egressProxy,
    [VARIABLES.pipelock]: run.images.pipelock,
    [VARIABLES.probe]: run.images.probe,
    [VARIABLES.agent]: run.images.agent,
    [VARIABLES.upstream]: run.images.upstream,
    [VARIABLES.brokenEgressProxy]: run.images.brokenEgressProxy,
    [VARIABLES.remoteHost]: run.images.remoteHost,
  };
}
