import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type GithubNarrowing,
  githubAppNarrowing,
  type NarrowedRoute,
  type PermissionLevel,
  repositoryOwners,
} from "../../../components/config";

const READ = ["GET", "HEAD"] as NarrowedRoute["methods"];
const WRITE = ["GET", "POST"] as NarrowedRoute["methods"];
const api = (paths: string[] | undefined, methods = READ): NarrowedRoute => ({ methods, ...(paths && { paths }) });
const git = (repositories: string[], push: boolean): NarrowedRoute => ({
  methods: ["GET", "POST"],
  paths: [],
  git: { repositories, push: push ? { refs: ["refs/heads/agent/*"], create: true, delete: false, tags: false } : false },
});
const EVERY_PART = (level: PermissionLevel): GithubNarrowing["permissions"] => ({
  contents: level,
  issues: level,
  metadata: "read",
  pull_requests: level,
});

describe("githubAppNarrowing: the repositories and permissions of the routes that use a GitHub App", () => {
  const cases: [string, NarrowedRoute[], GithubNarrowing][] = [
    [
      "a git route without push: its repositories, contents read",
      [git(["acme/app"], false)],
      {
        repositories: ["acme/app"],
        permissions: { contents: "read", metadata: "read" },
      },
    ],
    [
      "a git route with push: contents write",
      [git(["acme/app", "acme/lib"], true)],
      {
        repositories: ["acme/app", "acme/lib"],
        permissions: { contents: "write", metadata: "read" },
      },
    ],
    [
      "a whole repository's API, read methods: its three parts read",
      [api(["/repos/acme/app"])],
      {
        repositories: ["acme/app"],
        permissions: EVERY_PART("read"),
      },
    ],
    [
      "a whole repository's API with a trailing slash, a write method: its three parts write",
      [api(["/repos/acme/app/"], WRITE)],
      {
        repositories: ["acme/app"],
        permissions: EVERY_PART("write"),
      },
    ],
    [
      "/repos/o/n/pulls with POST: pull_requests write",
      [api(["/repos/acme/app/pulls"], WRITE)],
      {
        repositories: ["acme/app"],
        permissions: { metadata: "read", pull_requests: "write" },
      },
    ],
    [
      "/repos/o/n/issues/ read: issues read",
      [api(["/repos/acme/app/issues/"])],
      {
        repositories: ["acme/app"],
        permissions: { issues: "read", metadata: "read" },
      },
    ],
    [
      "/repos/o/n/contents with DELETE: contents write",
      [api(["/repos/acme/app/contents"], ["DELETE"])],
      {
        repositories: ["acme/app"],
        permissions: { contents: "write", metadata: "read" },
      },
    ],
    [
      "a part with no permission of its own (/commits): metadata only",
      [api(["/repos/acme/app/commits"])],
      {
        repositories: ["acme/app"],
        permissions: { metadata: "read" },
      },
    ],
    [
      "PUT and PATCH are writes too",
      [api(["/repos/acme/app/pulls"], ["PUT"]), api(["/repos/acme/app/issues"], ["PATCH"])],
      {
        repositories: ["acme/app"],
        permissions: { issues: "write", metadata: "read", pull_requests: "write" },
      },
    ],
    ["/repos/: every repository", [api(["/repos/"])], { repositories: [], permissions: EVERY_PART("read") }],
    ["/repos/acme/: every repository", [api(["/repos/acme/"], WRITE)], { repositories: [], permissions: EVERY_PART("write") }],
    ["/repos/acme (no slash): every repository", [api(["/repos/acme"])], { repositories: [], permissions: EVERY_PART("read") }],
    ["/: every repository", [api(["/"])], { repositories: [], permissions: EVERY_PART("read") }],
    ["no paths: every repository", [api(undefined)], { repositories: [], permissions: EVERY_PART("read") }],
    [
      "a path naming no repository (/user) adds none",
      [api(["/user", "/repos/acme/app/pulls"])],
      {
        repositories: ["acme/app"],
        permissions: { metadata: "read", pull_requests: "read" },
      },
    ],
    ["a path like /repository is not above /repos", [api(["/repositories"])], { repositories: [], permissions: { metadata: "read" } }],
    [
      "git push and an API route read: the highest level wins, repositories joined and sorted",
      [api(["/repos/acme/web/contents", "/repos/acme/app/pulls"]), git(["acme/app"], true)],
      { repositories: ["acme/app", "acme/web"], permissions: { contents: "write", metadata: "read", pull_requests: "read" } },
    ],
    [
      "a write route and a read route of the same part: write",
      [api(["/repos/acme/app/pulls"], WRITE), api(["/repos/acme/app/pulls"])],
      { repositories: ["acme/app"], permissions: { metadata: "read", pull_requests: "write" } },
    ],
    [
      "one route above a repository widens the narrowing of all",
      [git(["acme/app"], false), api(["/repos/"])],
      { repositories: [], permissions: EVERY_PART("read") },
    ],
    ["no routes: metadata only, no repository named", [], { repositories: [], permissions: { metadata: "read" } }],
  ];
  for (const [name, routes, expected] of cases) {
    test(name, () => {
      const narrowing = githubAppNarrowing(routes);
      assert.deepEqual(narrowing, expected);
      assert.deepEqual(Object.keys(narrowing.permissions), Object.keys(narrowing.permissions).sort(), "permission keys sorted");
    });
  }
});

describe("repositoryOwners", () => {
  const cases: [string[], string[]][] = [
    [[], []],
    [["acme/app", "acme/lib"], ["acme"]],
    [["Acme/app", "acme/lib"], ["acme"]],
    [
      ["acme/app", "other/lib"],
      ["acme", "other"],
    ],
  ];
  for (const [repositories, owners] of cases) {
    test(`${JSON.stringify(repositories)} -> ${JSON.stringify(owners)}`, () => assert.deepEqual(repositoryOwners(repositories), owners));
  }
});
