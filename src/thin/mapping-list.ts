/**
 * A growing list of mappings (virtual block, data block, time) in typed
 * columns: what repair gathers from older copies of lost leaves and what
 * recovery gathers from the trees of deleted devices, without an object
 * per mapping.
 */
import { grow } from '../pdata/grow.js';

export class MappingList {
  keys = new Float64Array(256);
  data = new Float64Array(256);
  time = new Uint32Array(256);
  length = 0;

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
