/**
 * Pure parts of `npm run bottle`: which engine and bottle a command means, and both gates' logs
 * merged in time order.
 */
import { Backend, BACKENDS } from "../../components/index";
import { readStackFile } from "../../infra/stack-file";
import { DEPLOYED_BACKENDS } from "./backends";
import type { Engine, Gate } from "./deployed";

/**
 * Each bottle's engine, by name, from a stack file: its own `backend`, else the stack's
 * (`bot-bottle:backend`), else docker; and the settings of that backend's mapping that name
 * its engine or cluster, each the bottle's own, else the stack's (`bot-bottle:docker`,
 * `bot-bottle:kubernetes`). Nothing set: the backend's default engine (the local one).
 */
export function bottlesOfStackFile(text: string): Map<string, Engine> {
  const { config } = readStackFile(text, () => "");
  const bottles = Array.isArray(config.bottles) ? (config.bottles as unknown[]) : [];
  return new Map(
    bottles.flatMap((b) => {
      const bottle = b as Record<string, unknown>;
      if (typeof bottle.name !== "string") return [];
      const named = bottle.backend ?? config.backend;
      const backend = BACKENDS.find((known) => known === named) ?? Backend.docker;
      const keys = DEPLOYED_BACKENDS[backend].engineKeys;
      const engine: Engine = { backend, ...stringsOf(config[backend], keys), ...stringsOf(bottle[backend], keys) };
      return [[bottle.name, engine] as const];
    }),
  );
}

/** The string-valued `keys` of a mapping. */
function stringsOf(value: unknown, keys: readonly string[]): Record<string, string> {
  const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  return Object.fromEntries(keys.flatMap((key) => (typeof record[key] === "string" ? [[key, record[key] as string]] : [])));
}

/** The bottle a command names, or the stack's only one; an error message otherwise. */
export function chooseBottle(bottles: ReadonlyMap<string, unknown>, named: string | undefined, stack: string): string {
  if (named !== undefined) {
    if (!bottles.has(named)) throw new Error(`stack "${stack}" has no bottle "${named}"; its bottles: ${[...bottles.keys()].join(", ")}`);
    return named;
  }
  if (bottles.size === 1) return [...bottles.keys()][0]!;
  throw new Error(`stack "${stack}" has ${bottles.size} bottles (${[...bottles.keys()].join(", ")}): name one`);
}

/** One log line of a gate, with the engine's RFC 3339 timestamp (`docker logs --timestamps`, `kubectl logs --timestamps`). */
export interface LogLine {
  time: string;
  gate: Gate;
  text: string;
}

const TIMESTAMPED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/;

/**
 * One line of `<tool> logs --timestamps` output. A line without the engine's timestamp (the
 * tool's own error, on its stderr) gets `now`.
 */
export function logLine(raw: string, gate: Gate, now: () => string = () => new Date().toISOString()): LogLine {
  const m = TIMESTAMPED.exec(raw);
  return m ? { time: m[1]!, gate, text: m[2]! } : { time: now(), gate, text: raw };
}

/** Splits `<tool> logs --timestamps` output into lines of one gate. */
export function logLines(output: string, gate: Gate): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => logLine(line, gate));
}

/**
 * A timestamp as Docker writes it (RFC 3339 in UTC, fraction trimmed of trailing zeros, so
 * `…:02Z` and `…:02.1Z`) with the fraction padded to nine digits: these sort as times do.
 */
function sortable(time: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(time);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}` : time;
}

/** Lines of several gates in time order (stable for equal times), newest last. */
export function mergeLogs(...gates: LogLine[][]): LogLine[] {
  return gates.flat().sort(byTime);
}

/** Orders lines by their time (a sort comparator). */
export function byTime(a: { time: string }, b: { time: string }): number {
  const key = (line: { time: string }) => sortable(line.time);
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
