/**
 * A bottle that `pulumi up` made, as `npm run bottle` works in it on its backend: each backend
 * implements DeployedBottle (scripts/bottle/docker.ts, kubernetes.ts), registered in
 * scripts/bottle/backends.ts.
 */
import type { SpawnSyncReturns } from "node:child_process";
import type { Readable } from "node:stream";
import type { Backend, WorkloadRole } from "../../components/index";

/** The bottle a command names, and the stack file that declares it. */
export interface BottleRef {
  stack: string;
  bottle: string;
  stackFile: string;
}

/** Where a bottle runs, as its stack file says: its backend, and the settings that name its engine or cluster. */
export type Engine = { backend: Backend } & Readonly<Partial<Record<string, string>>>;

/** What `npm run bottle` runs on: its tools (docker, kubectl, sh), its environment, and whether it has a terminal. */
export interface Cli {
  run(
    tool: string,
    args: string[],
    opts: { env: NodeJS.ProcessEnv; interactive?: boolean },
  ): Pick<SpawnSyncReturns<string>, "status" | "stdout" | "stderr">;
  /** Starts a tool whose output is read as it comes (`docker logs --follow`). */
  follow(tool: string, args: string[], opts: { env: NodeJS.ProcessEnv }): Followed;
  env: NodeJS.ProcessEnv;
  tty: boolean;
}

/** A running tool, as `follow` reads it: its output streams, its end (its exit code), and a way to end it. */
export interface Followed {
  stdout: Readable;
  stderr: Readable;
  once(event: "close", listener: (code: number | null) => void): unknown;
  kill(): unknown;
}

/** The gates whose logs `logs` and `blocked` read: pipelock-bulk only where a route uses the bulk lane. */
export const GATES = ["egress-proxy", "pipelock", "pipelock-bulk"] as const satisfies readonly WorkloadRole[];
export type Gate = (typeof GATES)[number];

/** The gates a bottle runs, of those whose logs are read: pipelock-bulk is there only with a bulk lane. */
export const gatesAmong = (roles: readonly string[]): Gate[] => GATES.filter((gate) => gate !== "pipelock-bulk" || roles.includes(gate));

export interface DeployedBottle {
  /** A command in the agent, as its user, in its workspace (interactive on a terminal); its exit status. */
  execInAgent(command: string[]): number;
  /** Prints the bottle's workloads and how they are; 0 when all are well. */
  status(): number;
  /** The gates' logs (stdout and stderr), with timestamps if asked, since a time if asked. */
  gateLogs(options: { since?: string; timestamps?: boolean }): Partial<Record<Gate, string>>;
  /** The gates' logs as they are written (with timestamps; the backlog since a time if asked, else all of it). */
  followGateLogs(options: { since?: string }): Partial<Record<Gate, Followed>>;
}

/** The flags of `docker logs` and `kubectl logs` (which share them) for what a command asks. */
export const logFlags = (options: { since?: string; timestamps?: boolean; follow?: boolean }): string[] => [
  ...(options.follow ? ["--follow"] : []),
  ...(options.timestamps ? ["--timestamps"] : []),
  ...(options.since ? ["--since", options.since] : []),
];
