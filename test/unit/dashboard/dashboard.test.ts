/** The dashboard reader and the page's data: pure functions, exact cases. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { labelValuesVariables, legendName, panelsOf, rateIntervalSeconds, substitute } from "../../../scripts/dashboard/dashboard";
import { drawPanel, renderPage, steps } from "../../../scripts/dashboard/page";

describe("substitute", () => {
  const cases: [string, Record<string, string[]>, number, string][] = [
    ['up{stack=~"$stack"}', { stack: ["dev"] }, 60, 'up{stack=~"dev"}'],
    ['up{bottle=~"$bottle"}', { bottle: ["coder", "reviewer"] }, 60, 'up{bottle=~"(coder|reviewer)"}'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's braced ${name}, not a JavaScript template
    ['up{bottle=~"${bottle}"}', { bottle: [".*"] }, 60, 'up{bottle=~".*"}'],
    ["rate(x[$__rate_interval])", {}, 75, "rate(x[75s])"],
    ['rate(x{stack=~"$stack"}[$__rate_interval])', { stack: ["dev"] }, 60, 'rate(x{stack=~"dev"}[60s])'],
  ];
  for (const [expr, values, interval, expected] of cases) {
    test(`${expr} with ${JSON.stringify(values)}`, () => assert.equal(substitute(expr, values, interval), expected));
  }
  test("a variable without a value is an error, not an empty match", () => {
    assert.throws(() => substitute('up{stack=~"$stack"}', {}, 60), /no value for the dashboard variable \$stack/);
    assert.throws(() => substitute('up{stack=~"$stack"}', { stack: [] }, 60), /\$stack/);
  });
});

describe("rateIntervalSeconds (Grafana's $__rate_interval)", () => {
  const cases: [number, number, number][] = [
    [15, 15, 60],
    [60, 15, 75],
    [30, 30, 120],
    [300, 15, 315],
  ];
  for (const [step, scrape, expected] of cases)
    test(`step ${step}s, scrape ${scrape}s: ${expected}s`, () => assert.equal(rateIntervalSeconds(step, scrape), expected));
});

describe("legendName", () => {
  const cases: [string, Record<string, string>, string][] = [
    ["{{bottle}} {{decision}}", { bottle: "coder", decision: "deny" }, "coder deny"],
    ["{{ bottle }}: {{reason}}", { bottle: "coder", reason: "no route" }, "coder: no route"],
    ["{{bottle}} {{missing}}", { bottle: "coder" }, "coder "],
    ["p95", {}, "p95"],
  ];
  for (const [format, labels, expected] of cases)
    test(`${format} -> ${expected}`, () => assert.equal(legendName(format, labels), expected));
});

describe("panelsOf and labelValuesVariables", () => {
  const dashboard = {
    panels: [
      { type: "row", title: "a row" },
      {
        type: "timeseries",
        title: "Traffic",
        fieldConfig: { defaults: { unit: "reqps" } },
        targets: [{ expr: "x", legendFormat: "{{bottle}}", refId: "A" }],
      },
      { type: "timeseries", title: "No unit", targets: [] },
    ],
    templating: {
      list: [
        { name: "datasource", type: "datasource" },
        { name: "stack", type: "query", definition: "label_values(up, stack)" },
        { name: "bottle", type: "query", definition: 'label_values(up{stack=~"$stack"}, bottle)', multi: true },
      ],
    },
  };
  test("panels without rows, their unit (none when unset) and targets' expression and legend only", () =>
    assert.deepEqual(panelsOf(dashboard), [
      { title: "Traffic", unit: "reqps", targets: [{ expr: "x", legendFormat: "{{bottle}}" }] },
      { title: "No unit", unit: "none", targets: [] },
    ]));
  test("query variables as label_values(selector, label)", () =>
    assert.deepEqual(labelValuesVariables(dashboard), [
      { name: "stack", match: "up", label: "stack", multi: false },
      { name: "bottle", match: 'up{stack=~"$stack"}', label: "bottle", multi: true },
    ]));
  test("a query variable of another form is refused", () =>
    assert.throws(
      () => labelValuesVariables({ panels: [], templating: { list: [{ name: "v", type: "query", definition: "query_result(up)" }] } }),
      /variable v: "query_result\(up\)" is not label_values/,
    ));
});

describe("the page's data", () => {
  const range = { start: 100, end: 160, step: 30 };
  test("steps of the range, both ends included", () => assert.deepEqual(steps(range), [100, 130, 160]));
  test("each target's series named by its legend, on the steps, null where a sample is missing or not finite", () =>
    assert.deepEqual(
      drawPanel(
        {
          title: "T",
          unit: "s",
          targets: [
            { expr: "a", legendFormat: "{{bottle}} p50" },
            { expr: "b", legendFormat: "{{bottle}} p95" },
          ],
        },
        [
          [
            {
              metric: { bottle: "coder" },
              values: [
                [100, "1"],
                [160, "2.5"],
              ],
            },
          ],
          [
            {
              metric: { bottle: "coder" },
              values: [
                [130, "NaN"],
                [160, "4"],
              ],
            },
          ],
        ],
        range,
      ),
      {
        title: "T",
        unit: "s",
        series: [
          { name: "coder p50", values: [1, null, 2.5] },
          { name: "coder p95", values: [null, null, 4] },
        ],
      },
    ));
  test("the page escapes titles, counts each panel's series and cannot be closed early by its data", () => {
    const page = renderPage("a <b>", range, [{ title: "x & y", unit: "none", series: [{ name: "</script>", values: [1, 2, 3] }] }], {
      js: "",
      css: "",
    });
    assert.match(page, /<title>a &lt;b&gt;<\/title>/);
    assert.match(page, /data-series="1"><h2>x &amp; y<\/h2>/);
    assert.doesNotMatch(page, /"<\/script>"/);
  });
});
