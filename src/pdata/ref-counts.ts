/**
 * Reference counts for a range of blocks, kept compact: one byte per block,
 * with counts of 255 and more spilled into a Map. Ten million data blocks
 * cost ten megabytes, not ten million objects.
 */
import { must } from '../errors.js';

/** A count of 255 in small means the Map holds the count. */
const COUNT = 'the spilled count of a block marked 255';

export class RefCounts {
  private readonly small: Uint8Array;
  private readonly big = new Map<number, number>();

  constructor(readonly nrBlocks: number) {
    this.small = new Uint8Array(nrBlocks);
  }

  get(b: number): number {
    const s = this.small[b];
    return s === 255 ? must(this.big.get(b), COUNT) : s;
  }

  /** Adds `n` to block b's count and returns the count before. Caller checks b < nrBlocks. */
  inc(b: number, n = 1): number {
    const s = this.small[b];
    if (s === 255) {
      const old = must(this.big.get(b), COUNT);
      this.big.set(b, old + n);
      return old;
    }
    const now = s + n;
    if (now >= 255) {
      this.small[b] = 255;
      this.big.set(b, now);
    } else {
      this.small[b] = now;
    }
    return s;
  }

  set(b: number, v: number): void {
    if (v >= 255) {
      this.small[b] = 255;
      this.big.set(b, v);
    } else {
      if (this.small[b] === 255) this.big.delete(b);
      this.small[b] = v;
    }
  }

  /** Blocks with a non-zero count. */
  countAllocated(): number {
    let n = 0;
    const s = this.small;
    for (let i = 0; i < s.length; i++) if (s[i] !== 0) n++;
    return n;
  }

  /** Calls fn for each block whose count is at least `min`, in block order. */
  forEachAtLeast(min: number, fn: (b: number, count: number) => void): void {
    const s = this.small;
    for (let i = 0; i < s.length; i++) {
      const v = s[i];
      if (v >= min || (v === 255 && must(this.big.get(i), COUNT) >= min)) {
        if (v !== 0) fn(i, this.get(i));
      }
    }
  }

  /** The raw byte counts (255 = look in the map); for fast scans. */
  get bytes(): Uint8Array {
    return this.small;
  }
}
