/**
 * `npm run bottle -- logs --follow`: the gates' logs as they are written, merged in time
 * order. The engine's tool follows each gate's log (`docker logs --follow`, `kubectl logs
 * --follow`); this splits what they print into lines and merges them.
 */
import type { Followed, Gate } from "./deployed";
import { byTime, type LogLine, logLine } from "./inspect";

/** Splits a stream's chunks into lines: what ends with a newline now, the rest with the next chunk. */
export class LineSplitter {
  private rest = "";

  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split("\n");
    this.rest = parts.pop() ?? "";
    return parts.map((line) => line.replace(/\r$/, "")).filter((line) => line.trim() !== "");
  }

  /** The last line, when the stream ended without a newline. */
  end(): string[] {
    const last = this.rest;
    this.rest = "";
    return last.trim() === "" ? [] : [last];
  }
}

/**
 * Lines of several live logs in time order. Each line is held `windowMs` after it arrived, so
 * a line one gate wrote before another's, but that reached us after it, still comes first; and
 * the backlog (`--since`), which arrives at once, comes out merged.
 */
export class LiveMerge {
  private held: { line: LogLine; at: number }[] = [];

  constructor(private readonly windowMs: number) {}

  add(line: LogLine, at: number): void {
    this.held.push({ line, at });
  }

  /** The lines due at `now`, oldest first: those held for the window, and any held line written before one of them. */
  due(now: number): LogLine[] {
    const ripe = this.held.filter((h) => now - h.at >= this.windowMs).map((h) => h.line);
    if (ripe.length === 0) return [];
    const newest = ripe.sort(byTime).at(-1)!;
    return this.take((line) => byTime(line, newest) <= 0);
  }

  /** Every held line, oldest first. */
  drain(): LogLine[] {
    return this.take(() => true);
  }

  private take(which: (line: LogLine) => boolean): LogLine[] {
    const out = this.held.filter((h) => which(h.line));
    this.held = this.held.filter((h) => !which(h.line));
    return out.map((h) => h.line).sort(byTime);
  }
}

export interface FollowOutput {
  line(line: LogLine): void;
  /** A gate's log ended before we stopped following it (its container stopped, or the tool failed). */
  ended(gate: Gate, code: number | null): void;
}

export interface Following {
  /** Stops following (the tools are ended) and writes what is held. */
  stop(): void;
  /** Settles once every log ended by itself, or once stopped. */
  done: Promise<void>;
}

/** Follows the gates' logs, writing their lines merged as they come. */
export function followGates(
  logs: Partial<Record<Gate, Followed>>,
  out: FollowOutput,
  options: { windowMs: number; now?: () => number },
): Following {
  const now = options.now ?? Date.now;
  const merge = new LiveMerge(options.windowMs);
  const write = (lines: LogLine[]) => {
    for (const line of lines) out.line(line);
  };
  let open = Object.keys(logs).length;
  let stopped = false;
  let finish = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const timer = setInterval(() => write(merge.due(now())), Math.max(1, Math.floor(options.windowMs / 4)));
  const close = () => {
    clearInterval(timer);
    write(merge.drain());
    finish();
  };
  for (const [gate, log] of Object.entries(logs) as [Gate, Followed][]) {
    const splitters = [log.stdout, log.stderr].map((stream) => {
      const splitter = new LineSplitter();
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        for (const raw of splitter.push(chunk)) merge.add(logLine(raw, gate), now());
      });
      return splitter;
    });
    log.once("close", (code) => {
      if (stopped) return;
      for (const raw of splitters.flatMap((s) => s.end())) merge.add(logLine(raw, gate), now());
      write(merge.drain()); // the gate's last lines before the news that it ended
      out.ended(gate, code);
      if (--open === 0) close();
    });
  }
  if (open === 0) close();
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const log of Object.values(logs)) log.kill();
      close();
    },
    done,
  };
}
