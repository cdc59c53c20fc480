import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The digest of a Docker build context as the docker provider's `Image` computes it (its
 * `contextDigest`, whose change replaces the image): the Dockerfile, then every file the
 * context's .dockerignore admits, each as its relative path, mode and content hash. The
 * .dockerignore patterns supported are the ones this repository writes (`*`, `?`, names and
 * directories, `!` exceptions, last match wins); any other pattern throws instead of guessing.
 */
export function contextDigest(dir: string): string {
  const patterns = dockerignore(path.join(dir, ".dockerignore"));
  const entries: Buffer[] = [fileEntry(path.join(dir, "Dockerfile"), "Dockerfile", "----------")];
  for (const rel of walk(dir).filter((file) => !excluded(file, patterns))) {
    entries.push(fileEntry(path.join(dir, rel), rel, modeString(fs.lstatSync(path.join(dir, rel)).mode)));
  }
  return createHash("sha256").update(Buffer.concat(entries)).digest("hex");
}

interface Pattern {
  regex: RegExp;
  negated: boolean;
}

function dockerignore(file: string): Pattern[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const negated = line.startsWith("!");
      const glob = path.posix.normalize(negated ? line.slice(1) : line).replace(/\/$/, "");
      if (/[[\]{}\\]|\*\*/.test(glob)) throw new Error(`contextDigest: unsupported .dockerignore pattern ${line}`);
      const body = glob
        .replace(/[.+^$()|]/g, "\\$&")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]");
      // A pattern that matches a directory matches everything below it.
      return { regex: new RegExp(`^${body}(/.*)?$`), negated };
    });
}

function excluded(rel: string, patterns: Pattern[]): boolean {
  let out = false;
  for (const { regex, negated } of patterns) if (regex.test(rel)) out = !negated;
  return out;
}

function walk(dir: string, rel = ""): string[] {
  return fs
    .readdirSync(path.join(dir, rel), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
      return entry.isDirectory() ? walk(dir, child) : [child];
    });
}

function fileEntry(file: string, rel: string, mode: string): Buffer {
  const content = fs.lstatSync(file).isSymbolicLink() ? Buffer.from(fs.realpathSync(file)) : fs.readFileSync(file);
  return Buffer.concat([Buffer.from(rel + mode), createHash("sha256").update(content).digest(), Buffer.from([0])]);
}

/** Go's fs.FileMode.String() for a file's permission bits and type. */
function modeString(mode: number): string {
  const type = (mode & fs.constants.S_IFMT) === fs.constants.S_IFLNK ? "L" : "-";
  const rwx = "rwxrwxrwx";
  return type + [...rwx].map((c, i) => (mode & (1 << (8 - i)) ? c : "-")).join("");
}
