/**
 * The route contract (components/config/route-contract.ts) against every place that handles a
 * route: each test names one place, and fails listing the options (or routes.yaml keys) the
 * contract has and the place lacks ("missing"), and those the place has and the contract lacks
 * ("extra"). args.ts is also held to it by the compiler (the contract's type), RouteReach by
 * reach.ts's compile-time check, and the egress proxy's model by test/contract/contract.test.ts.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { bottleSchema, renderRoutesYaml, ROUTE_CONTRACT, ROUTE_YAML_KEYS, type RouteOption } from "../../../components/index";
import { keysAt } from "../../../components/config/suggest";
import { applySuggestions } from "../../../scripts/bottle/blocked";
import { keyPaths, ROUTE_KEYS } from "../../../scripts/plan/document-keys";
import { routeReach } from "../../../scripts/plan/reach";
import { FEATURE_BOTTLES, featureBottles } from "../../support/feature-bottles";

const OPTIONS = Object.keys(ROUTE_CONTRACT);
const options = Object.entries<RouteOption>(ROUTE_CONTRACT);

/** What `actual` lacks of `expected`, and what it has that `expected` does not. */
function mismatch(expected: Iterable<string>, actual: Iterable<string>): { missing: string[]; extra: string[] } {
  const want = new Set(expected);
  const have = new Set(actual);
  return { missing: [...want].filter((k) => !have.has(k)).sort(), extra: [...have].filter((k) => !want.has(k)).sort() };
}
const AGREE = { missing: [], extra: [] };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The dotted paths of a document's leaves (lists and empty objects are leaves) with their values as JSON. */
function leaves(value: unknown, at = ""): Map<string, string> {
  if (!isObject(value) || (at !== "" && Object.keys(value).length === 0)) return new Map([[at, JSON.stringify(value)]]);
  return new Map(Object.entries(value).flatMap(([key, inner]) => [...leaves(inner, at ? `${at}.${key}` : key)]));
}

/** Dotted paths and every path above them (`git.push.refs`: also `git.push`, `git`). */
const withParents = (paths: Iterable<string>) =>
  [...paths].flatMap((p) => p.split(".").map((_, i, names) => names.slice(0, i + 1).join(".")));

const features = Object.values(featureBottles());
const renderedRoutes = features.flatMap(({ spec }) => (parse(renderRoutesYaml(spec)) as { routes: Record<string, unknown>[] }).routes);

describe("the route contract: every place that handles a route knows exactly its options", () => {
  test("the feature bottles (test/support/feature-bottles.ts) use every option", () => {
    const routes = Object.values(FEATURE_BOTTLES).flatMap((bottle) => (bottle as { routes: unknown[] }).routes);
    assert.deepEqual(mismatch(OPTIONS, withParents(routes.flatMap((route) => [...leaves(route).keys()]))), AGREE);
  });

  test("the schema (components/config/schema.ts)", () => {
    const paths = (at: string[]): string[] =>
      keysAt(bottleSchema, ["routes", 0, ...at]).flatMap((key) => [[...at, key].join("."), ...paths([...at, key])]);
    assert.deepEqual(mismatch(OPTIONS, paths([])), AGREE);
  });

  test("the interfaces (components/config/args.ts), as the component's schema gives them to other languages", () => {
    const components = path.resolve(__dirname, "..", "..", "..", "components");
    const packageJson = JSON.parse(fs.readFileSync(path.join(components, "package.json"), "utf8"));
    const { typeDefinitions } = new Analyzer(components, "bot-bottle", packageJson, new Set(["BottleStack"])).analyze();
    const paths = (type: string, at = ""): string[] =>
      Object.entries(typeDefinitions[type]?.properties ?? {}).flatMap(([key, property]) => {
        const nested = /^#\/types\/bot-bottle:index:(\w+)$/.exec(String((property as { $ref?: string }).$ref))?.[1];
        return [`${at}${key}`, ...(nested ? paths(nested, `${at}${key}.`) : [])];
      });
    assert.deepEqual(mismatch(OPTIONS, paths("Route")), AGREE);
  });

  test("the renderer (components/egress-proxy/routes.ts): the routes.yaml keys of the feature bottles", () => {
    assert.deepEqual(mismatch(ROUTE_YAML_KEYS.keys(), withParents(renderedRoutes.flatMap((route) => [...leaves(route).keys()]))), AGREE);
  });

  test("the reach (scripts/plan/reach.ts routeReach): the keys it reads, all but those the contract ignores", () => {
    const read = new Set<string>();
    const watched = (value: Record<string, unknown>, at: string): Record<string, unknown> =>
      new Proxy(value, {
        get(target, key) {
          const inner = target[key as string];
          if (typeof key !== "string") return inner;
          read.add(`${at}${key}`);
          return isObject(inner) ? watched(inner, `${at}${key}.`) : inner;
        },
      });
    for (const route of renderedRoutes) routeReach(watched(route, ""));
    const expected = [...ROUTE_YAML_KEYS].filter(([, rule]) => typeof rule === "string" || !("ignored" in rule)).map(([key]) => key);
    assert.deepEqual(mismatch(expected, read), AGREE);
  });

  test("the reach (scripts/plan/reach.ts routeReach): each key changes the field the contract names, an ignored key none", () => {
    for (const [key, rule] of ROUTE_YAML_KEYS) {
      if (rule === "its keys") continue;
      const route = renderedRoutes.find((r) => leaves(r).has(key));
      assert.ok(route, `no feature bottle renders ${key}`);
      const fields = (r: Record<string, unknown>) => leaves(routeReach(r));
      const [before, after] = [fields(route), fields(withChanged(route, key))];
      const changed = [...after.keys()].filter((field) => before.get(field) !== after.get(field));
      assert.deepEqual({ key, changed }, { key, changed: "reads" in rule ? [rule.reads] : [] });
    }
  });

  test("the reach diff's table (scripts/plan/document-keys.ts ROUTE_KEYS)", () => {
    assert.deepEqual(mismatch(ROUTE_YAML_KEYS.keys(), keyPaths(ROUTE_KEYS)), AGREE);
  });

  test("blocked --suggest (scripts/bottle/blocked.ts): the options it writes", () => {
    const before = [
      "config:",
      "  bot-bottle:bottles:",
      "    - name: coder",
      "      routes:",
      "        - host: api.example.com",
      "          methods: [GET]",
      '          paths: ["/v1/"]',
      "        - host: github.com",
      "          git: { repositories: [acme/app], push: false }",
      "",
    ].join("\n");
    // Everything a suggestion can do: a new route, a route widened, a git route given a repository and a push.
    const { text } = applySuggestions(before, "coder", [
      { host: "new.example.com", ports: [443], methods: ["GET"], paths: ["/a/"] },
      { host: "api.example.com", ports: [8443], methods: ["POST"], paths: ["/v2/"] },
      { host: "github.com", ports: [443], methods: ["GET", "POST"], paths: ["/acme/lib.git/info/refs", "/acme/app.git/git-receive-pack"] },
    ]);
    const routes = (yaml: string) =>
      new Map((parse(yaml).config["bot-bottle:bottles"][0].routes as Record<string, unknown>[]).map((r) => [r.host, leaves(r)]));
    const [was, now] = [routes(before), routes(text)];
    const written = [...now].flatMap(([host, keys]) =>
      [...keys].filter(([key, value]) => was.get(host)?.get(key) !== value).map(([key]) => key),
    );
    assert.deepEqual(
      mismatch(
        options.filter(([, o]) => o.suggest === "writes").map(([key]) => key),
        written,
      ),
      AGREE,
    );
  });
});

/** `route` with the value at dotted `key` changed: a flag flipped, a number or text changed, a list one longer. */
function withChanged(route: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = structuredClone(route);
  const names = key.split(".");
  const parent = names.slice(0, -1).reduce((at, name) => at[name] as Record<string, unknown>, copy);
  const change = (value: unknown): unknown => {
    if (typeof value === "boolean") return !value;
    if (typeof value === "number") return value + 1;
    if (typeof value === "string") return `${value}-changed`;
    if (Array.isArray(value)) return [...value, change(value[0])];
    throw new Error(`${key}: cannot change ${JSON.stringify(value)}`);
  };
  parent[names.at(-1)!] = change(parent[names.at(-1)!]);
  return copy;
}
