/**
 * Draws the shipped Grafana dashboard (observability/grafana/bottles.json) from a Prometheus in
 * headless Chromium and writes a PNG (and the HTML page it photographed): the README's
 * screenshot where Grafana itself cannot run. Every panel's queries are the dashboard's own.
 *
 *   npm run dashboard-snapshot -- --prometheus http://127.0.0.1:9090 --out dashboard.png
 *     [--minutes 60 | --start <unix s> --end <unix s>] [--stack dev] [--bottle coder ...]
 *     [--scrape-interval 15] [--html page.html]
 *
 * Without --stack or --bottle it shows the first stack and all its bottles Prometheus knows.
 * CHROMIUM names the browser (default: chromium on PATH).
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { snapshot } from "./dashboard/snapshot";

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      prometheus: { type: "string" },
      out: { type: "string" },
      html: { type: "string" },
      minutes: { type: "string", default: "60" },
      start: { type: "string" },
      end: { type: "string" },
      stack: { type: "string" },
      bottle: { type: "string", multiple: true },
      "scrape-interval": { type: "string", default: "15" },
    },
  });
  if (!args.prometheus || !args.out) throw new Error("give --prometheus <url> and --out <file.png>");
  const end = args.end ? Number(args.end) : Math.floor(Date.now() / 1000);
  const start = args.start ? Number(args.start) : end - Number(args.minutes) * 60;
  if (!(end > start)) throw new Error(`the range is empty: --start ${start} is not before --end ${end}`);
  // About 240 points a series, on whole seconds, never finer than a scrape.
  const scrapeSeconds = Number(args["scrape-interval"]);
  const step = Math.max(scrapeSeconds, Math.ceil((end - start) / 240));
  const given: Record<string, string[]> = {};
  if (args.stack) given.stack = [args.stack];
  if (args.bottle) given.bottle = args.bottle;
  const png = path.resolve(args.out);
  const html = path.resolve(args.html ?? `${png.replace(/\.png$/i, "")}.html`);
  const panels = await snapshot({ prometheus: args.prometheus, range: { start, end, step }, given, scrapeSeconds, png, html });
  for (const panel of panels) console.log(`${panel.series.length > 0 ? "  " : "! "}${panel.title}: ${panel.series.length} series`);
  console.log(`wrote ${png} (and ${html})`);
  const empty = panels.filter((panel) => panel.series.length === 0);
  if (empty.length > 0) console.error(`panels without data: ${empty.map((panel) => panel.title).join(", ")}`);
}

main().catch((error: unknown) => {
  console.error(`dashboard-snapshot: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
