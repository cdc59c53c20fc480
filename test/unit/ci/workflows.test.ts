/**
 * What the CI workflows promise about secrets, checked on their text: pull-request code never
 * runs where a secret is; the comment poster never runs pull-request code; previews with
 * secrets only for this repository's branches behind an environment; deploys only from main,
 * one stack at a time, with a pinned CLI and actions pinned by commit. (Syntax and expressions: scripts/lint-workflows.)
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";

const DIR = path.resolve(__dirname, "..", "..", "..", ".github", "workflows");
type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = { if?: string; environment?: string; steps: Step[]; strategy?: { "max-parallel"?: number }; concurrency?: unknown };
type Workflow = { on: Record<string, unknown>; permissions?: Record<string, string>; jobs: Record<string, Job> };

const read = (name: string) => fs.readFileSync(path.join(DIR, name), "utf8");
const workflow = (name: string) => parse(read(name)) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);

describe("CI workflows", () => {
  test("there are exactly the four workflows described", () => {
    assert.deepEqual(fs.readdirSync(DIR).sort(), ["deploy.yml", "preview.yml", "review-comment.yml", "review.yml"]);
  });

  test("review (pull requests, forks included): no secret, read-only token, no persisted credentials", () => {
    const text = read("review.yml");
    assert.doesNotMatch(text, /secrets\./);
    const w = workflow("review.yml");
    assert.deepEqual(Object.keys(w.on), ["pull_request"]);
    assert.deepEqual(w.permissions, { contents: "read" });
    for (const step of steps(w).filter((s) => s.uses?.startsWith("actions/checkout@"))) {
      assert.equal(step.with?.["persist-credentials"], false);
    }
  });

  test("review-comment: runs nothing from the pull request (no checkout, no npm, no scripts), checks the PR's head", () => {
    const w = workflow("review-comment.yml");
    assert.deepEqual(Object.keys(w.on), ["workflow_run"]);
    const all = steps(w);
    assert.equal(
      all.some((s) => s.uses?.startsWith("actions/checkout@")),
      false,
    );
    const scripts = all.map((s) => s.run ?? "").join("\n");
    assert.doesNotMatch(scripts, /\bnpm\b|\bnode\b|scripts\/|bash review|source /);
    assert.match(scripts, /\[ "\$head" = "\$RUN_HEAD_SHA" \]/);
  });

  test("preview: only this repository's branches, behind the preview environment, pinned CLI", () => {
    const w = workflow("preview.yml");
    const job = w.jobs.preview!;
    assert.equal(job.if, "github.event.pull_request.head.repo.full_name == github.repository");
    assert.equal(job.environment, "preview");
    assert.match(read("preview.yml"), /PULUMI_VERSION: \d+\.\d+\.\d+/);
  });

  test("preview and deploy run Pulumi through scripts/pulumi, after set-tokens (the tracked stack files hold placeholders)", () => {
    for (const name of ["preview.yml", "deploy.yml"]) {
      const all = steps(workflow(name));
      assert.equal(
        all.some((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command !== undefined),
        false,
        `${name}: the action only installs the CLI`,
      );
      const runs = all.map((s) => s.run ?? "");
      const tokens = runs.findIndex((r) => /^scripts\/set-tokens /.test(r));
      const pulumi = runs.findIndex((r) => /scripts\/pulumi (preview|up) /.test(r));
      assert.ok(tokens >= 0 && pulumi > tokens, `${name}: scripts/set-tokens, then scripts/pulumi preview|up`);
    }
  });

  test("deploy: main only, an environment per stack, one stack at a time, never cancelled midway", () => {
    const w = workflow("deploy.yml");
    assert.deepEqual(w.on, { push: { branches: ["main"] } });
    const job = w.jobs.up!;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
    assert.equal(job.environment, "${{ matrix.stack }}");
    assert.equal(job.strategy?.["max-parallel"], 1);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a template
    assert.deepEqual(job.concurrency, { group: "deploy-${{ matrix.stack }}", "cancel-in-progress": false });
    assert.match(read("deploy.yml"), /scripts\/set-tokens "\$STACK"/);
  });

  test("every action is pinned to a full commit SHA, its version named beside it (a tag can be moved; a commit cannot)", () => {
    for (const name of fs.readdirSync(DIR)) {
      const uses = read(name)
        .split("\n")
        .filter((line) => /^\s*-?\s*uses:/.test(line));
      assert.notEqual(uses.length, 0, name);
      for (const line of uses) assert.match(line, /uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, `${name}: ${line.trim()}`);
    }
  });

  test("no workflow puts an expression straight into a script (values reach scripts through env)", () => {
    for (const name of fs.readdirSync(DIR)) {
      for (const step of steps(workflow(name))) {
        assert.doesNotMatch(step.run ?? "", /\$\{\{/, `${name}: ${step.run}`);
      }
    }
  });
});
