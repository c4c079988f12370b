/**
 * Fault injection for the rollback tests: DMTHIN_FAULT=<point> makes the
 * named step fail as if the kernel had refused it. A no-op otherwise.
 */
export function faultPoint(point: string): void {
  if (process.env.DMTHIN_FAULT === point) throw new Error(`injected fault at ${point} (DMTHIN_FAULT)`);
}
