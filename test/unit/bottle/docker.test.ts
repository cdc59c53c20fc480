import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { containerStates } from "../../../scripts/bottle/docker";

describe("npm run bottle on Docker: docker inspect", () => {
  test("container states from docker inspect", () => {
    const inspect = JSON.stringify([
      {
        Name: "/dev-coder-agent",
        Config: { Labels: { "bot-bottle.role": "agent" }, Image: "sha256:abc", User: "1000:1000" },
        State: { Status: "running", StartedAt: "2026-12-02T10:00:00Z" },
        HostConfig: { PidsLimit: 512 },
        Mounts: [{ Type: "volume", Name: "dev-coder-workspace", Source: "/var/lib/docker/volumes/x", Destination: "/workspace" }],
      },
      {
        Name: "/dev-coder-pipelock",
        Config: { Labels: { "bot-bottle.role": "pipelock" }, Image: "pipelock:2.3.0" },
        State: { Status: "running", StartedAt: "2026-12-02T09:59:58Z", Health: { Status: "healthy" } },
        HostConfig: { PidsLimit: null },
      },
    ]);
    assert.deepEqual(containerStates(inspect), [
      {
        name: "dev-coder-agent",
        role: "agent",
        status: "running",
        image: "sha256:abc",
        startedAt: "2026-12-02T10:00:00Z",
        user: "1000:1000",
        pidsLimit: 512,
        mounts: [{ source: "dev-coder-workspace", destination: "/workspace", kind: "volume" }],
      },
      {
        name: "dev-coder-pipelock",
        role: "pipelock",
        status: "running",
        health: "healthy",
        image: "pipelock:2.3.0",
        startedAt: "2026-12-02T09:59:58Z",
        user: "",
        mounts: [],
      },
    ]); // fmt: skip
  });
});
