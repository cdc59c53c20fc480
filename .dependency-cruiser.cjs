/**
 * The floors of the TypeScript code, checked by `scripts/lint` (dependency-cruiser):
 * no import cycle between modules or between the folders of components/; the policy pack
 * stands alone (a judge independent of what it judges); the package's own code never
 * reaches up into the repository's program, tools or tests; the program and the tools use the
 * package through its public API (components/index.ts).
 */
/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycle",
      comment: "A module imports one that imports it back, directly or through others.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-folder-cycle",
      comment: "A folder of components/ imports a sibling folder that imports it back.",
      severity: "error",
      scope: "folder",
      from: { path: "^components/" },
      to: { circular: true },
    },
    {
      name: "policy-pack-stands-alone",
      comment: "The policy pack imports nothing outside policy/: it judges the package, it does not lean on it.",
      severity: "error",
      from: { path: "^policy/" },
      to: { pathNot: ["^policy/", "^node_modules/", "^policy/node_modules/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "package-stands-alone",
      comment: "components/ is the published package: it never imports the program, the tools, the pack or the tests.",
      severity: "error",
      from: { path: "^components/" },
      to: { path: "^(infra|scripts|policy|test)/" },
    },
    {
      name: "public-api-only",
      comment: "The program and the tools use the package as its consumers do: through components/index.ts.",
      severity: "error",
      from: { path: "^(infra|scripts)/" },
      to: { path: "^components/", pathNot: "^components/index\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
