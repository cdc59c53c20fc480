/**
 * Exits with `code` once everything written to stdout and stderr has left the process.
 * `process.exit` alone drops what a pipe has not taken yet (`npm run plan -- --json | tool`
 * received the first 64 KiB of a 90 KiB plan).
 */
export function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}
