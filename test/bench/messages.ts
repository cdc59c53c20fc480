/**
 * A Messages API request as a long Claude Code session sends it: the conversation so far, turns
 * of source code (this repository's own components) and prose (its documentation), grown to a
 * given size. What pipelock's DLP reads on the inspect lane, with nothing in it that is a secret.
 */
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");
// Source and prose only: test fixtures hold token-shaped strings on purpose.
const SOURCES = ["components", "docs", "README.md", "policy/policies", "policy/lib", "scripts"];
const EXTENSIONS = [".ts", ".py", ".md", ".sh"];

function files(entry: string): string[] {
  const full = path.join(ROOT, entry);
  if (fs.statSync(full).isFile()) return [full];
  return fs
    .readdirSync(full, { withFileTypes: true })
    .filter((e) => e.name !== "node_modules" && e.name !== "dist" && !e.name.startsWith("."))
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(entry, e.name)) : EXTENSIONS.includes(path.extname(e.name)) ? [path.join(full, e.name)] : [],
    )
    .sort();
}

/**
 * The JSON body of a Messages API request of about `bytes` bytes. Files that quote a PEM key
 * header are left out: pipelock refuses any text that holds one (README, "Tuning"); a long
 * session re-reads the others.
 */
export function messagesRequest(bytes: number): string {
  const turns: { role: "user" | "assistant"; content: { type: "text"; text: string }[] }[] = [];
  const corpus = SOURCES.flatMap(files).filter((file) => !fs.readFileSync(file, "utf8").includes("PRIVATE KEY"));
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const file = corpus[i % corpus.length]!;
    const text = fs.readFileSync(file, "utf8").slice(0, bytes - size);
    const role = i % 2 === 0 ? "user" : "assistant";
    const said = role === "user" ? `Here is ${path.relative(ROOT, file)}:\n\n${text}` : `I read it. ${text}`;
    turns.push({ role, content: [{ type: "text", text: said }] });
    size += said.length;
  }
  if (turns.at(-1)?.role !== "user") turns.push({ role: "user", content: [{ type: "text", text: "What would you change next?" }] });
  return JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 1024, system: "You are a careful engineer.", messages: turns });
}

/** The next turn of the session `body` is a request of: the same conversation, one exchange longer. */
export function nextTurn(body: string): string {
  const next = JSON.parse(body) as { messages: { role: string; content: { type: string; text: string }[] }[] };
  next.messages.push(
    { role: "assistant", content: [{ type: "text", text: "Changed components/pipelock/lanes.ts as asked; the tests pass." }] },
    {
      role: "user",
      content: [
        { type: "text", text: `Now look at this failure:\n${"  at TestContext.<anonymous> (test/e2e/lanes.test.ts:94:14)\n".repeat(40)}` },
      ],
    },
  );
  return JSON.stringify(next);
}
