/**
 * Builds a B-tree bottom-up from entries given in key order, writing each
 * node as soon as it is complete: memory holds one pending leaf and the
 * (first key, block) list of each level, never the entries themselves.
 *
 * Every non-root node ends up at least a third full (the kernel's own
 * invariant, which thin_check 1.x verifies): when the last node of a level
 * would be too small it shares entries with the node before it.
 */
import { BLOCK_SIZE } from '../../format/checksum.js';
import { highHalf, lowHalf } from '../../format/block-time.js';
import {
  INTERNAL_NODE,
  LEAF_NODE,
  keyAt,
  keyOffset,
  maxEntriesFor,
  newNode,
  sealNode,
  setKeyAt,
  valueOffset,
  writeNodeHeader,
} from '../../format/btree-node.js';
import { setU32, setU64 } from '../../format/le.js';
import { grow } from '../grow.js';

/** Where built nodes go: a block allocator and a block sink. */
export interface NodeSink {
  allocate(): number;
  /** Must copy `data` (or be done with it) before returning: builders reuse their buffers. */
  write(block: number, data: Uint8Array): void;
}

class GrowableList {
  keys = new Float64Array(64);
  blocks = new Float64Array(64);
  length = 0;
  push(key: number, block: number): void {
    if (this.length === this.keys.length) {
      this.keys = grow(this.keys);
      this.blocks = grow(this.blocks);
    }
    this.keys[this.length] = key;
    this.blocks[this.length++] = block;
  }
}

export class BTreeBuilder {
  readonly maxEntries: number;
  private readonly minEntries: number;
  private readonly valueBase: number;
  /** The leaf being filled, and the full one before it (held back for balancing). */
  private cur: Uint8Array = new Uint8Array(BLOCK_SIZE);
  private cur32: Uint32Array = new Uint32Array(this.cur.buffer);
  /** A written leaf's buffer, zeroed for reuse (the sink copies what it writes). */
  private spare: Uint8Array | undefined;
  private curKeys = new Float64Array(0);
  private curN = 0;
  private pending: Uint8Array | undefined;
  private pendingN = 0;
  private readonly leaves = new GrowableList();
  private lastKey = -1;
  private count = 0;

  constructor(
    private readonly sink: NodeSink,
    readonly valueSize: number,
  ) {
    this.maxEntries = maxEntriesFor(valueSize);
    this.minEntries = Math.ceil(this.maxEntries / 3);
    this.valueBase = valueOffset(this.maxEntries, valueSize, 0);
    this.curKeys = new Float64Array(this.maxEntries);
  }

  /** Entries added so far. */
  get size(): number {
    return this.count;
  }

  /** The last key added, -1 before the first. */
  get lastAddedKey(): number {
    return this.lastKey;
  }

  /**
   * Adds an entry; returns the byte array and offset where the caller
   * writes the value (valid until the next push). Keys must increase.
   */
  push(key: number): [Uint8Array, number] {
    if (key <= this.lastKey) throw new RangeError(`key ${key} does not follow ${this.lastKey}`);
    this.lastKey = key;
    this.count++;
    if (this.curN === this.maxEntries) this.rotate();
    setKeyAt(this.cur, this.curN, key);
    this.curKeys[this.curN] = key;
    return [this.cur, this.valueBase + this.valueSize * this.curN++];
  }

  /** A mapping: block_time value, written through a u32 view (this runs for every mapping). */
  pushBlockTime(key: number, block: number, time: number): void {
    if (key <= this.lastKey) throw new RangeError(`key ${key} does not follow ${this.lastKey}`);
    this.lastKey = key;
    this.count++;
    if (this.curN === this.maxEntries) this.rotate();
    const w = this.cur32;
    const i = this.curN++;
    const hi = (key / 0x1_0000_0000) >>> 0;
    const k = keyOffset(i) >>> 2;
    w[k] = key - hi * 0x1_0000_0000;
    w[k + 1] = hi;
    const v = (this.valueBase >>> 2) + 2 * i;
    w[v] = lowHalf(block, time);
    w[v + 1] = highHalf(block);
    this.curKeys[i] = key;
  }

  pushU64(key: number, value: number): void {
    const [b, off] = this.push(key);
    setU64(b, off, value);
  }

  pushU32(key: number, value: number): void {
    const [b, off] = this.push(key);
    setU32(b, off, value);
  }

  /** Writes what remains and the internal levels; returns the root block. */
  finish(): number {
    if (this.pending && this.curN < this.minEntries) {
      // Rebalance the last two leaves so neither is under a third full.
      const total = this.pendingN + this.curN;
      const left = Math.ceil(total / 2);
      const moved = this.pendingN - left;
      const p = this.pending;
      // Shift current entries right by `moved`, then copy the pending tail in front.
      this.cur.copyWithin(keyOffset(moved), keyOffset(0), keyOffset(this.curN));
      this.cur.copyWithin(this.valueBase + this.valueSize * moved, this.valueBase, this.valueBase + this.valueSize * this.curN);
      this.cur.set(p.subarray(keyOffset(left), keyOffset(this.pendingN)), keyOffset(0));
      this.cur.set(p.subarray(this.valueBase + this.valueSize * left, this.valueBase + this.valueSize * this.pendingN), this.valueBase);
      this.curKeys.copyWithin(moved, 0, this.curN);
      for (let i = 0; i < moved; i++) this.curKeys[i] = keyAt(p, left + i);
      this.curN += moved;
      this.pendingN = left;
      p.fill(0, keyOffset(left), keyOffset(this.maxEntries));
      p.fill(0, this.valueBase + this.valueSize * left, this.valueBase + this.valueSize * this.maxEntries);
    }
    this.flushPending();
    if (this.curN > 0 || this.leaves.length === 0) {
      this.emitLeaf(this.cur, this.curN, this.curKeys[0] ?? 0);
    }
    return buildInternal(this.sink, this.leaves);
  }

  private rotate(): void {
    this.flushPending();
    this.pending = this.cur;
    this.pendingN = this.curN;
    this.pendingFirst = this.curKeys[0];
    this.cur = this.spare ?? new Uint8Array(BLOCK_SIZE);
    this.spare = undefined;
    this.cur32 = new Uint32Array(this.cur.buffer, this.cur.byteOffset, BLOCK_SIZE >>> 2);
    this.curN = 0;
  }

  private pendingFirst = 0;

  private flushPending(): void {
    if (!this.pending) return;
    this.emitLeaf(this.pending, this.pendingN, this.pendingFirst);
    this.spare = this.pending.fill(0);
    this.pending = undefined;
  }

  private emitLeaf(b: Uint8Array, n: number, firstKey: number): void {
    const loc = this.sink.allocate();
    writeNodeHeader({ flags: LEAF_NODE, blocknr: loc, nrEntries: n, maxEntries: this.maxEntries, valueSize: this.valueSize }, b);
    sealNode(b);
    this.sink.write(loc, b);
    this.leaves.push(n > 0 ? firstKey : 0, loc);
  }
}

/** Splits n entries into node sizes of at most max, each at least a third full. */
export function chunkSizes(n: number, max: number): number[] {
  const nodes = Math.ceil(n / max);
  const sizes: number[] = [];
  const base = Math.floor(n / nodes);
  let extra = n - base * nodes;
  for (let i = 0; i < nodes; i++) sizes.push(base + (extra-- > 0 ? 1 : 0));
  return sizes;
}

function buildInternal(sink: NodeSink, level: GrowableList): number {
  const max = maxEntriesFor(8);
  while (level.length > 1) {
    const next = new GrowableList();
    let at = 0;
    for (const size of chunkSizes(level.length, max)) {
      const loc = sink.allocate();
      const b = newNode(INTERNAL_NODE, loc, 8, size);
      for (let i = 0; i < size; i++) {
        setKeyAt(b, i, level.keys[at + i]);
        setU64(b, valueOffset(max, 8, i), level.blocks[at + i]);
      }
      sealNode(b);
      sink.write(loc, b);
      next.push(level.keys[at], loc);
      at += size;
    }
    level = next;
  }
  return level.blocks[0];
}
