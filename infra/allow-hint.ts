/**
 * What this repository's refusals tell the agent a human runs: the bottle CLI's narrowest
 * change for what was refused (`npm run bottle -- blocked`). The package has no such command,
 * so only this program passes it (BottleStack's `allowHint`).
 */
export function blockedCommand(stack: string, bottle: string): string {
  return `npm run bottle -- blocked ${stack} ${bottle} --suggest`;
}
