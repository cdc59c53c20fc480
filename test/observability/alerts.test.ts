/**
 * The shipped alert rules and scrape configs, checked by a real promtool: the rules load, each
 * alert fires and stays quiet where alerts.promtool.yml says, and a prometheus.yml made of each
 * scrape config and the rules is valid.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { promtool } from "./support/prometheus";
import { PROMETHEUS_DIR, scrapeConfigWithFileDiscovery } from "./support/scrape";

const ALERTS = path.join(PROMETHEUS_DIR, "alerts.yml");

describe("the alert rules and scrape configs, checked by promtool", () => {
  it("promtool check rules loads the four alerts", () => {
    const { status, output } = promtool(["check", "rules", ALERTS]);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS: 4 rules found/);
  });

  it("promtool test rules: each alert fires, and stays quiet, where its cases say", () => {
    const { status, output } = promtool(["test", "rules", path.join(__dirname, "alerts.promtool.yml")]);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS/);
  });

  it("the Docker scrape config with the rules is a valid prometheus.yml", () => {
    assertValidConfig(fs.readFileSync(path.join(PROMETHEUS_DIR, "scrape-docker.yml"), "utf8"));
  });

  it("the Kubernetes scrape config's relabelling with the rules is a valid prometheus.yml", () => {
    // Debian's Prometheus is built without Kubernetes service discovery (its promtool refuses the
    // key kubernetes_sd_configs): the rest of the job is checked with file discovery in its place.
    const withFileDiscovery = scrapeConfigWithFileDiscovery("kubernetes", "pods.json");
    assertValidConfig(withFileDiscovery);
  });
});

function assertValidConfig(scrapeConfigs: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scrape-config-"));
  try {
    const config = path.join(dir, "prometheus.yml");
    fs.writeFileSync(config, `global: { scrape_interval: 15s }\nrule_files: [${JSON.stringify(ALERTS)}]\n${scrapeConfigs}`);
    const { status, output } = promtool(["check", "config", config]);
    assert.equal(status, 0, output);
    assert.match(output, /is valid prometheus config file syntax/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
