/**
 * Walks one tree in key order the way repair must: every node that can be
 * read is used, and every node that cannot becomes a hole, the key range
 * [lo, hi) its parent gave it, reported in order between the leaves. A
 * repair fills holes from older copies or leaves them empty; it never
 * stops at the first bad block.
 *
 * A node is unusable when its checksum, blocknr, flags, value_size or
 * entry counts are wrong, its keys do not increase or leave the parent's
 * range, it is its own ancestor, or (leaves) the caller's value check
 * refuses it. Intrinsic verdicts are cached per block in a typed array, so
 * walking the same shared subtree for many devices reads each node's
 * checksum once.
 */
import type { BlockReader } from '../io/block-reader.js';
import { MetadataError } from '../format/errors.js';
import { isLeaf, keyAt, u64ValueAt, validateNode } from '../format/btree-node.js';
import { firstBadKey } from './btree-walker.js';

/** Called for each usable leaf reached; `node` is valid only during the call. */
export type SalvageLeafHandler = (node: Uint8Array, location: number, nrEntries: number, maxEntries: number) => void;
/** Called for each unusable subtree, in key order with the leaves; `block` is the node that failed. */
export type HoleHandler = (lo: number, hi: number, block: number, why: string) => void;
/** Judges a leaf's values; returns why it is unusable, or undefined. */
export type LeafCheck = (node: Uint8Array, location: number, nrEntries: number, maxEntries: number) => string | undefined;

const UNKNOWN = 0;
const GOOD = 1;
const BAD = 2;
const MAX_DEPTH = 32;

export class SalvageWalker {
  /** Per block: UNKNOWN, GOOD or BAD for (checksum, header, value size, key order, leaf check). */
  private readonly verdict: Uint8Array;
  private readonly why = new Map<number, string>();
  private readonly onPath: Uint8Array;

  constructor(
    private readonly reader: BlockReader,
    private readonly valueSize: number,
    private readonly leafCheck?: LeafCheck,
    /** When given, set to 1 for every usable node a walk reaches (the live set). */
    private readonly mark?: Uint8Array,
  ) {
    this.verdict = new Uint8Array(reader.nrBlocks);
    this.onPath = new Uint8Array(reader.nrBlocks);
  }

  /** Walks the tree at `root`; `onLeaf` and `onHole` interleave in key order. */
  walk(root: number, onLeaf: SalvageLeafHandler, onHole: HoleHandler, lo = 0, hi = Infinity): void {
    this.visit(root, lo, lo, hi, true, onLeaf, onHole, 0);
  }

  /** Whether `block` is a usable node of this walker's tree kind (reads it if not yet judged). */
  usable(block: number): boolean {
    if (!(block >= 0 && block < this.reader.nrBlocks) || !Number.isInteger(block)) return false;
    if (this.verdict[block] === UNKNOWN) this.judge(block, this.reader.read(block));
    return this.verdict[block] === GOOD;
  }

  private judge(loc: number, b: Uint8Array): void {
    let why: string | undefined;
    try {
      const h = validateNode(b, loc, this.valueSize);
      const n = h.nrEntries;
      const bad = firstBadKey(b, n, 0, Infinity);
      if (bad >= 0) why = `block ${loc}: keys out of order at entry ${bad}`;
      if (!why && isLeaf(h) && this.leafCheck) why = this.leafCheck(b, loc, n, h.maxEntries);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      why = e.message;
    }
    this.verdict[loc] = why ? BAD : GOOD;
    if (why) this.why.set(loc, why);
  }

  /** Keys must lie in [lo, hi); a hole here covers [holeLo, hi). */
  private visit(loc: number, holeLo: number, lo: number, hi: number, isRoot: boolean, onLeaf: SalvageLeafHandler, onHole: HoleHandler, depth: number): void {
    if (!(loc >= 0 && loc < this.reader.nrBlocks) || !Number.isInteger(loc)) {
      onHole(holeLo, hi, loc, `block ${loc} is past the end of the metadata (${this.reader.nrBlocks} blocks)`);
      return;
    }
    if (this.onPath[loc] || depth > MAX_DEPTH) {
      onHole(holeLo, hi, loc, `block ${loc}: cycle: node is its own ancestor`);
      return;
    }
    const b = this.reader.read(loc);
    if (this.verdict[loc] === UNKNOWN) this.judge(loc, b);
    if (this.verdict[loc] === BAD) {
      onHole(holeLo, hi, loc, this.why.get(loc)!);
      return;
    }
    const n = b[16]! | (b[17]! << 8) | (b[18]! << 16) | (b[19]! * 0x1000000);
    if (n === 0) {
      if (!isRoot) onHole(holeLo, hi, loc, `block ${loc}: empty non-root node`);
      else if (this.mark) this.mark[loc] = 1;
      return;
    }
    // Keys are ordered (judged above); they must also stay inside the parent's range.
    const first = keyAt(b, 0);
    const last = keyAt(b, n - 1);
    if (first < lo || last >= hi) {
      onHole(holeLo, hi, loc, `block ${loc}: keys ${first}..${last} outside the parent's range [${lo}, ${hi === Infinity ? 'end' : hi})`);
      return;
    }
    if (this.mark) this.mark[loc] = 1;
    const maxEntries = b[20]! | (b[21]! << 8) | (b[22]! << 16) | (b[23]! * 0x1000000);
    if ((b[4]! & 2) !== 0) {
      onLeaf(b, loc, n, maxEntries);
      return;
    }
    const keys = new Float64Array(n);
    const children = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      keys[i] = keyAt(b, i);
      children[i] = u64ValueAt(b, maxEntries, i);
    }
    this.onPath[loc] = 1;
    try {
      for (let i = 0; i < n; i++) {
        // A lost first child loses everything from the parent's lower bound.
        const chi = i + 1 < n ? keys[i + 1]! : hi;
        this.visit(children[i]!, i === 0 ? holeLo : keys[i]!, keys[i]!, chi, false, onLeaf, onHole, depth + 1);
      }
    } finally {
      this.onPath[loc] = 0;
    }
  }
}
