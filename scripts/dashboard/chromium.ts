/** A PNG of a local HTML page, taken by headless Chromium (Debian's `chromium`, or CHROMIUM). */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

export const CHROMIUM = process.env.CHROMIUM ?? "chromium";

export function screenshot(htmlFile: string, pngFile: string, size: { width: number; height: number }): void {
  // A profile of its own: nothing read from or left in the user's.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-chromium-"));
  try {
    const run = spawnSync(
      CHROMIUM,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        `--window-size=${size.width},${size.height}`,
        // Lets the page's scripts draw before the picture is taken.
        "--virtual-time-budget=5000",
        `--screenshot=${pngFile}`,
        pathToFileURL(htmlFile).href,
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    if (run.error) throw new Error(`could not run ${CHROMIUM} (apt-get install chromium, or set CHROMIUM): ${run.error.message}`);
    if (run.status !== 0 || !fs.existsSync(pngFile)) {
      throw new Error(
        `${CHROMIUM} took no screenshot of ${htmlFile} (exit ${run.status}): ${run.stderr.trim().split("\n").slice(-5).join("\n")}`,
      );
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
