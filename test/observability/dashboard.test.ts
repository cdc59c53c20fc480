/**
 * The shipped Grafana dashboard against a real Prometheus: every panel's target and every
 * template variable evaluated over an hour of synthetic gates' metrics (named as the egress
 * proxy's exporter and pipelock name them), so a query that does not parse, or names a metric
 * or label no gate exports, fails here. Then the renderer draws it in headless Chromium.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DASHBOARD_FILE, labelValuesVariables, panelsOf, rateIntervalSeconds, substitute } from "../../scripts/dashboard/dashboard";
import { labelValues, queryRange } from "../../scripts/dashboard/prometheus";
import { snapshot } from "../../scripts/dashboard/snapshot";
import { prometheusOn, type RunningPrometheus } from "./support/prometheus";
import { BOTTLES, STACK, syntheticOpenMetrics } from "./support/synthetic";

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, "utf8"));
const end = Math.floor(Date.now() / 60_000) * 60 - 60;
const range = { start: end - 3600, end, step: 60 };
const values = { stack: [STACK], bottle: [...BOTTLES] };

describe("the Grafana dashboard's queries, on a real Prometheus", () => {
  let dir: string;
  let prometheus: RunningPrometheus;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-test-"));
    prometheus = await prometheusOn(syntheticOpenMetrics(range), dir);
  });
  after(async () => {
    await prometheus?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is a classic dashboard of a current schema with the stack and bottle variables", () => {
    assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
    assert.deepEqual(
      labelValuesVariables(dashboard).map(({ name, label, multi }) => ({ name, label, multi })),
      [
        { name: "stack", label: "stack", multi: false },
        { name: "bottle", label: "bottle", multi: true },
      ],
    );
  });

  for (const panel of panelsOf(dashboard)) {
    for (const target of panel.targets) {
      it(`${panel.title}: ${target.expr} answers with a series per bottle`, async () => {
        const expr = substitute(target.expr, values, rateIntervalSeconds(range.step, 15));
        const result = await queryRange(prometheus.url, expr, range);
        assert.ok(result.length > 0, `no series for ${expr}`);
        const bottles = new Set(result.map((series) => series.metric.bottle));
        assert.deepEqual([...bottles].sort(), [...BOTTLES].sort(), `${expr} answered for bottles ${[...bottles]}`);
        assert.ok(
          result.some((series) => series.values.some(([, value]) => Number(value) > 0)),
          `${expr}: every value is 0 or missing`,
        );
      });
    }
  }

  it("the variables' label_values answer the stack, then its bottles", async () => {
    const [stack, bottle] = labelValuesVariables(dashboard);
    assert.deepEqual(await labelValues(prometheus.url, stack!.label, substitute(stack!.match, {}, 0), range), [STACK]);
    assert.deepEqual(
      await labelValues(prometheus.url, bottle!.label, substitute(bottle!.match, { stack: [STACK] }, 0), range),
      [...BOTTLES].sort(),
    );
    assert.deepEqual(await labelValues(prometheus.url, bottle!.label, substitute(bottle!.match, { stack: ["prod"] }, 0), range), []);
  });

  it("the renderer draws every panel with data in Chromium and writes a PNG", async () => {
    const png = path.join(dir, "dashboard.png");
    const html = path.join(dir, "dashboard.html");
    const drawn = await snapshot({ prometheus: prometheus.url, range, given: {}, scrapeSeconds: 15, png, html });
    const page = fs.readFileSync(html, "utf8");
    for (const panel of panelsOf(dashboard)) {
      const box = new RegExp(`data-series="(\\d+)"><h2>${panel.title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}</h2>`).exec(page);
      assert.ok(box, `the page has no panel ${panel.title}`);
      assert.ok(Number(box[1]) > 0, `${panel.title} is drawn without data`);
    }
    assert.equal(drawn.length, panelsOf(dashboard).length);
    const image = fs.readFileSync(png);
    assert.equal(image.subarray(1, 4).toString("latin1"), "PNG");
    // A page of ten charts; a blank page of that size compresses to a few kilobytes.
    assert.ok(image.length > 100_000, `the PNG is ${image.length} bytes`);
  });
});
