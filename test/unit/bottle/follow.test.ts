/**
 * `logs --follow`: lines assembled from the tools' chunks, merged in time order as they come,
 * a gate whose log ends said so, and a stop that keeps what was held.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import type { Followed, Gate } from "../../../scripts/bottle/deployed";
import { followGates, LineSplitter, LiveMerge } from "../../../scripts/bottle/follow";
import type { LogLine } from "../../../scripts/bottle/inspect";

describe("lines from a stream's chunks", () => {
  test("a line split across chunks comes whole; blank lines and carriage returns dropped; the unterminated rest at the end", () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push("2026-12-06T15:10:01Z one\n2026-12-06T15:10:0"), ["2026-12-06T15:10:01Z one"]);
    assert.deepEqual(splitter.push("2Z two\r\n\n2026-12-06T15:10:03Z thr"), ["2026-12-06T15:10:02Z two"]);
    assert.deepEqual(splitter.push("ee"), []);
    assert.deepEqual(splitter.end(), ["2026-12-06T15:10:03Z three"]);
    assert.deepEqual(splitter.end(), []);
  });
});

describe("live lines merged in time order", () => {
  const line = (time: string, gate: Gate, text: string): LogLine => ({ time, gate, text });

  test("a line is held for the window; one written earlier that arrives later still comes first", () => {
    const merge = new LiveMerge(100);
    merge.add(line("2026-12-06T15:10:02Z", "egress-proxy", "later"), 1000);
    assert.deepEqual(merge.due(1050), []);
    merge.add(line("2026-12-06T15:10:01.5Z", "pipelock", "earlier"), 1060);
    merge.add(line("2026-12-06T15:10:03Z", "pipelock", "newest"), 1070);
    // Due at 1100: the first line, and the one written before it; the newest waits for its window.
    assert.deepEqual(
      merge.due(1100).map((l) => l.text),
      ["earlier", "later"],
    );
    assert.deepEqual(merge.due(1100), []);
    assert.deepEqual(
      merge.drain().map((l) => l.text),
      ["newest"],
    );
  });

  test("a backlog that arrives at once comes out merged", () => {
    const merge = new LiveMerge(10);
    merge.add(line("2026-12-06T15:10:03Z", "egress-proxy", "c"), 0);
    merge.add(line("2026-12-06T15:10:01Z", "egress-proxy", "a"), 0);
    merge.add(line("2026-12-06T15:10:02Z", "pipelock", "b"), 0);
    assert.deepEqual(
      merge.due(10).map((l) => l.text),
      ["a", "b", "c"],
    );
  });
});

describe("following the gates' tools", () => {
  /** A tool that prints what the test writes, and ends when the test (or a kill) closes it. */
  const tool = () => {
    const emitter = new EventEmitter();
    let killed = false;
    const followed: Followed & { stdout: PassThrough; stderr: PassThrough; killed: () => boolean; exit: (code: number) => void } =
      Object.assign(emitter, {
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        kill: () => {
          killed = true;
          emitter.emit("close", null);
          return true;
        },
        killed: () => killed,
        exit: (code: number) => emitter.emit("close", code),
      });
    return followed;
  };
  /** Two gates' tools followed, and what was written: lines and ends, in order. */
  const start = (windowMs: number) => {
    const egress = tool();
    const pipelock = tool();
    const events: string[] = [];
    const out = {
      line: (l: LogLine) => events.push(`${l.gate} ${l.time} ${l.text}`),
      ended: (gate: Gate, code: number | null) => events.push(`ended ${gate} ${code}`),
    };
    return { egress, pipelock, events, following: followGates({ "egress-proxy": egress, pipelock }, out, { windowMs }) };
  };

  test("lines of both gates in time order as they come; a gate that ends is said to; done once all ended", async () => {
    const { egress, pipelock, events, following } = start(30);
    egress.stdout.write('2026-12-06T15:10:02Z {"decision": "deny"}\n');
    pipelock.stderr.write("2026-12-06T15:10:01Z banner\n");
    pipelock.stdout.write('2026-12-06T15:10:03Z {"event":"blocked"}\n');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(events, [
      "pipelock 2026-12-06T15:10:01Z banner",
      'egress-proxy 2026-12-06T15:10:02Z {"decision": "deny"}',
      'pipelock 2026-12-06T15:10:03Z {"event":"blocked"}',
    ]);
    pipelock.stdout.write("2026-12-06T15:10:04Z last words, unterminated");
    pipelock.exit(1);
    assert.deepEqual(events.slice(3), ["pipelock 2026-12-06T15:10:04Z last words, unterminated", "ended pipelock 1"]);
    egress.exit(0);
    await following.done;
    assert.equal(events.at(-1), "ended egress-proxy 0");
  });

  test("stopped: every tool ended, what was held written, and no gate reported as gone", async () => {
    const { egress, pipelock, events, following } = start(60_000);
    egress.stdout.write("2026-12-06T15:10:02Z held\n");
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events, []);
    following.stop();
    await following.done;
    assert.ok(egress.killed() && pipelock.killed());
    assert.deepEqual(events, ["egress-proxy 2026-12-06T15:10:02Z held"]);
  });
});
