import * as path from "node:path";

/** The build context of the agent image (Claude Code, git, Node 22), shipped with this package. */
export const AGENT_IMAGE_CONTEXT = path.join(__dirname, "image");
