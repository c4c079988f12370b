/**
 * Walks B-trees the way a checker must: each physical node is read and
 * judged once, however many parents (snapshots) share it, and every
 * reference followed is counted into the computed metadata ref counts.
 *
 * Per-block state lives in typed arrays sized by the metadata, never in
 * objects per node: the walk of a ten-million-mapping pool allocates
 * nothing per entry.
 */
import type { BlockReader } from '../io/block-reader.js';
import { MetadataError, OutOfRangeError } from '../format/errors.js';
import { isLeaf, keyAt, u64ValueAt, validateNode } from '../format/btree-node.js';
import type { RefCounts } from './ref-counts.js';

/** A problem found in a tree, with where it was found. */
export interface TreeIssue {
  block: number;
  /** What the tree is ("device details tree", "thin device 3 mappings"). */
  tree: string;
  /** Keys of the entries followed from the root to reach the block. */
  path: readonly number[];
  message: string;
}

/**
 * Called once per physical leaf, with a view of the block that is valid
 * only during the call.
 */
export type LeafHandler = (node: Uint8Array, location: number, nrEntries: number, maxEntries: number) => void;

const NEW = 0;
const ACTIVE = 1;
const GOOD = 2;
const BAD = 3;
/** Deeper than any real tree (4 M blocks at fan-out 84 is 4 levels); a longer chain is a loop. */
const MAX_DEPTH = 32;

export interface WalkResult {
  /** Leaf entries under the root, counting shared subtrees once per path. */
  entries: number;
  /** Errors found under the root, shared subtrees included. */
  errors: number;
}

export class TreeWalker {
  private readonly state: Uint8Array;
  private readonly entries: Float64Array;
  private readonly errors: Uint32Array;

  constructor(
    private readonly reader: BlockReader,
    private readonly metadataCounts: RefCounts | undefined,
    private readonly onIssue: (issue: TreeIssue) => void,
    /** Report non-root internal nodes under a third full, as thin_check 1.x does. */
    private readonly checkUnderfull = false,
  ) {
    const n = reader.nrBlocks;
    this.state = new Uint8Array(n);
    this.entries = new Float64Array(n);
    this.errors = new Uint32Array(n);
  }

  /**
   * Walks the tree at `root`, whose leaves hold `valueSize`-byte values,
   * calling `onLeaf` the first time each leaf is reached. The reference to
   * `root` itself is counted too.
   */
  walk(root: number, valueSize: number, tree: string, onLeaf: LeafHandler): WalkResult {
    const path: number[] = [];
    const r = this.visit(root, 0, Infinity, true, valueSize, tree, onLeaf, path, 0);
    return r;
  }

  private issue(block: number, tree: string, path: readonly number[], message: string): void {
    this.onIssue({ block, tree, path: path.slice(), message });
  }

  private visit(
    loc: number,
    lo: number,
    hi: number,
    isRoot: boolean,
    valueSize: number,
    tree: string,
    onLeaf: LeafHandler,
    path: number[],
    depth: number,
  ): WalkResult {
    if (!(loc < this.reader.nrBlocks) || !Number.isInteger(loc)) {
      this.issue(loc, tree, path, new OutOfRangeError(loc, this.reader.nrBlocks, 'node pointer').message);
      return { entries: 0, errors: 1 };
    }
    this.metadataCounts?.inc(loc);
    const st = this.state[loc];
    if (st === GOOD) return { entries: this.entries[loc]!, errors: 0 };
    if (st === BAD) return { entries: this.entries[loc]!, errors: this.errors[loc]! };
    if (st === ACTIVE || depth > MAX_DEPTH) {
      this.issue(loc, tree, path, `block ${loc}: cycle: node is its own ancestor`);
      return { entries: 0, errors: 1 };
    }
    this.state[loc] = ACTIVE;

    const b = this.reader.read(loc);
    let h;
    try {
      h = validateNode(b, loc, valueSize);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      this.issue(loc, tree, path, e.message);
      return this.finish(loc, 0, 1);
    }
    const n = h.nrEntries;
    let errors = 0;
    if (n === 0 && !isRoot) {
      this.issue(loc, tree, path, `block ${loc}: empty non-root node`);
      errors++;
    }
    // Keys must increase strictly and stay inside the range the parent gave.
    const bad = firstBadKey(b, n, lo, hi);
    if (bad >= 0) {
      const k = keyAt(b, bad);
      const msg =
        bad > 0 && k <= keyAt(b, bad - 1)
          ? `keys out of order: key[${bad}] = ${k} after ${keyAt(b, bad - 1)}`
          : `key ${k} outside the parent's range [${lo}, ${hi === Infinity ? 'end' : hi})`;
      this.issue(loc, tree, path, `block ${loc}: ${msg}`);
      errors++;
    }

    if (isLeaf(h)) {
      if (errors === 0) onLeaf(b, loc, n, h.maxEntries);
      return this.finish(loc, errors === 0 ? n : 0, errors);
    }

    if (this.checkUnderfull && !isRoot && n < h.maxEntries / 3) {
      this.issue(loc, tree, path, `block ${loc}: internal node underfull: ${n} of ${h.maxEntries} entries`);
      errors++;
    }
    // The reader's views never change (io/block-reader.ts): b is read as the recursion goes.
    let entries = 0;
    for (let i = 0; i < n; i++) {
      const key = keyAt(b, i);
      path.push(key);
      const r = this.visit(u64ValueAt(b, h.maxEntries, i), key, i + 1 < n ? keyAt(b, i + 1) : hi, false, valueSize, tree, onLeaf, path, depth + 1);
      path.pop();
      entries += r.entries;
      errors += r.errors;
    }
    return this.finish(loc, entries, errors);
  }

  private finish(loc: number, entries: number, errors: number): WalkResult {
    this.state[loc] = errors === 0 ? GOOD : BAD;
    this.entries[loc] = entries;
    this.errors[loc] = Math.min(errors, 0xffffffff);
    return { entries, errors };
  }
}

/**
 * Index of the first key that does not increase strictly or leaves
 * [lo, hi), or -1. Reads keys as u32 pairs through an aligned view: this
 * runs for every entry of every leaf.
 */
export function firstBadKey(b: Uint8Array, n: number, lo: number, hi: number): number {
  const w = (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset + 32, 2 * n) : undefined;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const k = w ? w[2 * i]! + w[2 * i + 1]! * 0x1_0000_0000 : keyAt(b, i);
    if (k <= prev || k < lo || k >= hi) return i;
    prev = k;
  }
  return -1;
}
