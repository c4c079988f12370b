/**
 * Crash injection for shrink's tests: DMTHIN_FAULT=shrink:<point> (or
 * shrink:<point>:<n>, the n-th time the point is reached) kills the
 * process at once with SIGKILL, as a power cut or `kill -9` would stop it
 * between two writes. A no-op otherwise.
 */
const seen = new Map<string, number>();

export function crashPoint(point: string): void {
  const want = process.env.DMTHIN_FAULT;
  if (want === undefined || !want.startsWith('shrink:')) return;
  const n = (seen.get(point) ?? 0) + 1;
  seen.set(point, n);
  if (want === `shrink:${point}` || want === `shrink:${point}:${n}`) process.kill(process.pid, 'SIGKILL');
}
