/**
 * The README's code blocks, as the clean-room test runs them (test/e2e/clean-room.test.ts).
 * Every fenced block with a language is marked on the line before it, so a new one cannot go
 * unchecked without saying why:
 *
 *   <!-- clean-room: run <step> -->            the clean room runs (or writes) it as step <step>
 *   <!-- clean-room: skip <why, and what test proves it instead> -->
 *
 * Blocks without a language (diagrams, sample output) need no mark. Pure: reads text only.
 */

export interface ReadmeBlock {
  /** The step's name from its mark. */
  step: string;
  /** The fence's language (`sh`, `ts`, `yaml`, `python`). */
  lang: string;
  /** The block's first line of content, 1-based, for messages. */
  line: number;
  /** The block's content, ending with a newline. */
  text: string;
}

export interface ReadmeBlocks {
  run: ReadmeBlock[];
  skipped: { lang: string; line: number; reason: string }[];
  /** What is wrong with the marks: a block with a language and no mark, a mark with no block, a skip without a reason, a step named twice. */
  problems: string[];
}

const MARK = /^<!-- clean-room: (run|skip)(?: (.*?))? -->$/;
const FENCE = /^```(\S*)\s*$/;

export function readmeBlocks(markdown: string): ReadmeBlocks {
  const lines = markdown.split("\n");
  const found: ReadmeBlocks = { run: [], skipped: [], problems: [] };
  let mark: { kind: string; value: string; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marked = MARK.exec(line);
    if (marked) {
      if (mark) found.problems.push(`line ${mark.line}: a clean-room mark with no code block right after it`);
      mark = { kind: marked[1]!, value: (marked[2] ?? "").trim(), line: i + 1 };
      continue;
    }
    const fence = FENCE.exec(line);
    if (!fence) {
      if (mark) found.problems.push(`line ${mark.line}: a clean-room mark with no code block right after it`);
      mark = undefined;
      continue;
    }
    const lang = fence[1]!;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    if (end < 0) {
      found.problems.push(`line ${i + 1}: a code block that never ends`);
      return found;
    }
    const text = `${lines.slice(i + 1, end).join("\n")}\n`;
    if (lang !== "") {
      if (!mark)
        found.problems.push(`line ${i + 1}: a ${lang} block without a clean-room mark (run <step>, or skip <why>) on the line before it`);
      else if (mark.kind === "skip" && mark.value === "")
        found.problems.push(`line ${mark.line}: a skip must say why (and what proves the block instead)`);
      else if (mark.kind === "run" && !/^[a-z0-9-]+$/.test(mark.value))
        found.problems.push(`line ${mark.line}: a step name is lowercase words joined by '-', got "${mark.value}"`);
      else if (mark.kind === "run" && found.run.some((b) => b.step === mark!.value))
        found.problems.push(`line ${mark.line}: step "${mark.value}" is marked twice`);
      else if (mark.kind === "run") found.run.push({ step: mark.value, lang, line: i + 2, text });
      else found.skipped.push({ lang, line: i + 2, reason: mark.value });
    } else if (mark) {
      found.problems.push(`line ${mark.line}: a clean-room mark on a block without a language`);
    }
    mark = undefined;
    i = end;
  }
  if (mark) found.problems.push(`line ${mark.line}: a clean-room mark with no code block right after it`);
  return found;
}

/** What the clean room puts in place of what a reader fills in, and why each change is needed. */
export interface CleanRoomValues {
  /** `NAME=...` in a command: the value of each NAME. */
  variables: Record<string, string>;
  /** `/path/to/<file>`: where each file is in the clean room. */
  paths: Record<string, string>;
  /** The README's example stack, `dev`, is this stack (its own name per run: the engine is shared). */
  stack: string;
  /** Other names the README fixes that the clean room needs its own of (an image tag on a shared engine). */
  names: Record<string, string>;
}

/**
 * A block's text as the clean room runs it: the placeholders filled in, the example stack
 * renamed, and `--yes` where Pulumi would ask a terminal to confirm (the clean room has none).
 * A placeholder it has no value for is an error, so a new one cannot slip through unfilled.
 */
export function asRun(text: string, values: CleanRoomValues): string {
  const missing: string[] = [];
  const filled = text
    .replace(/\b([A-Z][A-Z0-9_]*)=\.\.\.(?=\s)/g, (_match, name: string) => {
      if (values.variables[name] === undefined) missing.push(`${name}=...`);
      return `${name}=${shellQuote(values.variables[name] ?? "")}`;
    })
    .replace(/\/path\/to\/[^\s'"]+/g, (placeholder) => {
      if (values.paths[placeholder] === undefined) missing.push(placeholder);
      return values.paths[placeholder] ?? placeholder;
    })
    .replace(/(?<= )dev(?= |$)/gm, values.stack)
    .replace(/^([^#\n]*\bscripts\/up \S+)(?=\s*(#.*)?$)/gm, "$1 -- --yes")
    .replace(/^([^#\n]*\bscripts\/pulumi (?:up|destroy)\b[^#\n]*?)(?=\s*(#.*)?$)/gm, "$1 --yes");
  const named = Object.entries(values.names).reduce((text, [name, own]) => text.split(name).join(own), filled);
  if (missing.length > 0) throw new Error(`no clean-room value for ${[...new Set(missing)].join(", ")}`);
  return named;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
