import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { commandPath, mustRun } from "./process";

/**
 * Pulumi installs the providers a component package needs (each `@pulumi/*` resource SDK in its
 * node_modules, at the plugin version that SDK names) before it runs it, from Pulumi's plugin
 * site; `pulumi package add` takes none from PATH, even at that version. This machine has no
 * plugin site: the providers on PATH (the toolchain bundle, the Kubernetes provider) are
 * registered in a Pulumi home of this test's own under the versions the package asks for.
 * Where the plugin site is reachable, Pulumi downloads them instead, and a user does none of this.
 */
export async function pulumiHomeWithPlugins(home: string, packageDir: string): Promise<void> {
  const scope = path.join(packageDir, "node_modules", "@pulumi");
  const plugins = fs.readdirSync(scope).flatMap((sdk) => {
    const manifest = JSON.parse(fs.readFileSync(path.join(scope, sdk, "package.json"), "utf8")) as {
      pulumi?: { resource?: boolean; name?: string; version?: string };
    };
    return manifest.pulumi?.resource ? [{ name: manifest.pulumi.name ?? sdk, version: manifest.pulumi.version! }] : [];
  });
  assert.deepEqual(plugins.map((p) => p.name).sort(), ["command", "docker", "kubernetes", "tls"]);
  for (const { name, version } of plugins) {
    await mustRun(["pulumi", "plugin", "install", "resource", name, version, "--file", await commandPath(`pulumi-resource-${name}`)], {
      env: { ...process.env, PULUMI_HOME: home },
    });
  }
}
