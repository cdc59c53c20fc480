/** A shipped scrape config with its service discovery replaced by file discovery (same relabelling). */
import * as fs from "node:fs";
import * as path from "node:path";

export const PROMETHEUS_DIR = path.join(__dirname, "..", "..", "..", "observability", "prometheus");

export function scrapeConfigWithFileDiscovery(name: "docker" | "kubernetes", targetsFile: string): string {
  const snippet = fs.readFileSync(path.join(PROMETHEUS_DIR, `scrape-${name}.yml`), "utf8");
  const discovery = new RegExp(`    ${name}_sd_configs:\\n(?:      .*\\n)+(?=    relabel_configs:)`);
  const replaced = snippet.replace(discovery, `    file_sd_configs:\n      - files: [${JSON.stringify(targetsFile)}]\n`);
  if (replaced === snippet) throw new Error(`scrape-${name}.yml has no ${name}_sd_configs block before its relabel_configs`);
  return replaced;
}
