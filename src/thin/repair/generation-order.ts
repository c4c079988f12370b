/**
 * Ordering the consistent generations a scan finds when no superblock says
 * which is newest. Nothing on disk carries a commit counter; what orders
 * two generations is a device both list whose trees differ: the one with
 * the higher transaction id in its details (the kernel writes the pool's
 * transaction id into the details of every device changed in a commit),
 * or, with equal ids, the newer tree (a newer mapping time, or more
 * mappings at it: a write to an unprovisioned or shared block adds one at
 * the current time). Generations that list the same trees for the devices
 * they share differ only by devices created or deleted, which nothing
 * orders.
 */

export interface GenerationDevice {
  root: number;
  transactionId: bigint;
  /** The tree's newest mapping time and how many mappings carry it. */
  newest: readonly [number, number];
}

export interface Generation {
  devices: ReadonlyMap<number, GenerationDevice>;
}

export type Order = 'newer' | 'older' | 'same' | 'contradictory';

/** How `a` stands to `b`, by the devices both list. */
export function compareGenerations(a: Generation, b: Generation): Order {
  let newer = false;
  let older = false;
  for (const [id, da] of a.devices) {
    const db = b.devices.get(id);
    if (!db || da.root === db.root) continue;
    let c = da.transactionId > db.transactionId ? 1 : da.transactionId < db.transactionId ? -1 : 0;
    if (c === 0) c = Math.sign(da.newest[0] - db.newest[0] || da.newest[1] - db.newest[1]);
    if (c > 0) newer = true;
    else if (c < 0) older = true;
    // Two different trees of one device that nothing orders.
    else return 'contradictory';
  }
  return newer && older ? 'contradictory' : newer ? 'newer' : older ? 'older' : 'same';
}

export type NewestGeneration<T> =
  /** `unordered`: generations nothing orders against the one chosen, which lists every device they list. */
  | { kind: 'chosen'; chosen: T; unordered: T[] }
  /** Two generations each newer in some device: the trees contradict each other. */
  | { kind: 'contradictory'; between: [T, T]; newest: T[] }
  /** Generations that differ only by devices, none listing them all. */
  | { kind: 'no-widest'; newest: T[] };

/**
 * The newest generation: the one no other is newer than. Where several
 * are, unordered, the one listing every device any of them lists is taken
 * (a device deleted after the last write comes back; none is dropped);
 * otherwise nothing is chosen. A generation with no device (the pool's
 * first state) orders nothing. `gens` in order of preference for ties.
 */
export function newestGeneration<T extends Generation>(gens: readonly T[]): NewestGeneration<T> | undefined {
  const real = gens.filter((g) => g.devices.size > 0);
  if (real.length === 0) return undefined;
  const order = new Map<T, Map<T, Order>>();
  for (const a of real) order.set(a, new Map(real.filter((b) => b !== a).map((b) => [b, compareGenerations(a, b)])));
  const at = (a: T, b: T): Order | undefined => order.get(a)?.get(b);
  const newest = real.filter((a) => real.every((b) => a === b || at(a, b) !== 'older'));
  for (const a of newest) for (const b of newest) if (a !== b && at(a, b) === 'contradictory') return { kind: 'contradictory', between: [a, b], newest };
  if (newest.length === 1) return { kind: 'chosen', chosen: newest[0], unordered: [] };
  const all = new Set(newest.flatMap((g) => [...g.devices.keys()]));
  const widest = newest.find((g) => g.devices.size === all.size);
  if (!widest) return { kind: 'no-widest', newest };
  return { kind: 'chosen', chosen: widest, unordered: newest.filter((g) => g !== widest && g.devices.size < widest.devices.size) };
}
