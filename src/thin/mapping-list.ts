/**
 * A growing list of mappings (virtual block, data block, time) in typed
 * columns: what repair gathers from older copies of lost leaves (and hands
 * on, in key order, as a salvaged device's recovered mappings) and what
 * recovery gathers from the trees of deleted devices, without an object
 * per mapping. Only the first `length` entries of each column count.
 */
import { grow } from '../pdata/grow.js';

export class MappingList {
  keys: Float64Array;
  data: Float64Array;
  time: Uint32Array;
  length = 0;

  /** `capacity` 0 makes an empty list that costs nothing until pushed to (a salvaged device with nothing recovered). */
  constructor(capacity = 256) {
    this.keys = new Float64Array(capacity);
    this.data = new Float64Array(capacity);
    this.time = new Uint32Array(capacity);
  }

  push(k: number, d: number, t: number): void {
    if (this.length === this.keys.length) {
      this.keys = grow(this.keys);
      this.data = grow(this.data);
      this.time = grow(this.time);
    }
    this.keys[this.length] = k;
    this.data[this.length] = d;
    this.time[this.length++] = t;
  }

  /** Indices of the entries in key order (ties in insertion order). */
  sortedOrder(): Uint32Array {
    const idx = new Uint32Array(this.length);
    for (let i = 0; i < this.length; i++) idx[i] = i;
    const keys = this.keys;
    return idx.sort((a, b) => keys[a] - keys[b] || a - b);
  }
}

/** The value paired with key `k` in sorted typed columns (a device's mappings in key order), by binary search; undefined when absent. */
export function valueAtKey(keys: ArrayLike<number>, values: ArrayLike<number>, k: number): number | undefined {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = keys[mid];
    if (x === k) return values[mid];
    if (x < k) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
