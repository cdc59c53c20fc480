import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The probe every backend's self-test runs with the agent's network access (see probe.py): it
 * exits non-zero if anything but the egress proxy answers.
 */
export const SELF_TEST_PROBE = fs.readFileSync(path.join(__dirname, "probe.py"), "utf8");
