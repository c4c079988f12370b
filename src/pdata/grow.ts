/**
 * Growing typed arrays: the per-entry columns (runs, keys, counts) that
 * stand in for arrays of objects keep doubling through this one helper.
 */
type Typed = Float64Array | Uint32Array | Uint8Array;

/** A copy of `a` with room for at least `min` elements (doubling). */
export function grow<T extends Typed>(a: T, min = a.length + 1): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(a.length * 2, min, 16));
  b.set(a);
  return b;
}
