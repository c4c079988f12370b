/**
 * A pull iterator over the u64-valued entries of one B-tree in key order,
 * for walks that advance two trees in step (delta). It keeps one path of
 * nodes (copied: the block cache may drop them between pulls), never the
 * whole tree.
 */
import type { BlockReader } from '../io/block-reader.js';
import { FieldError } from '../format/errors.js';
import { NODE_HEADER_SIZE, isLeaf, u64ValueAt, validateNode } from '../format/btree-node.js';

interface Frame {
  children: Float64Array;
  next: number;
}

export class LeafCursor {
  private readonly stack: Frame[] = [];
  private leaf: Uint32Array | undefined;
  private leafN = 0;
  private leafMax = 0;
  private pos = 0;
  /** The current entry's key, low half of the value, high half of the value. */
  key = 0;
  lo = 0;
  hi = 0;

  constructor(
    private readonly reader: BlockReader,
    root: number,
  ) {
    this.descend(root);
  }

  /** Moves to the next entry; false at the end. */
  next(): boolean {
    for (;;) {
      if (this.leaf && this.pos < this.leafN) {
        const w = this.leaf;
        const i = this.pos++;
        this.key = w[8 + 2 * i]! + w[9 + 2 * i]! * 0x1_0000_0000;
        const v = ((NODE_HEADER_SIZE + 8 * this.leafMax) >>> 2) + 2 * i;
        this.lo = w[v]!;
        this.hi = w[v + 1]!;
        return true;
      }
      this.leaf = undefined;
      const top = this.stack[this.stack.length - 1];
      if (!top) return false;
      if (top.next >= top.children.length) {
        this.stack.pop();
        continue;
      }
      this.descend(top.children[top.next++]!);
    }
  }

  private descend(loc: number): void {
    if (this.stack.length > 32) throw new FieldError(loc, 'depth', 'tree deeper than 32 levels: a cycle');
    const b = this.reader.read(loc);
    const h = validateNode(b, loc, 8);
    if (isLeaf(h)) {
      this.leaf = new Uint32Array(b.slice().buffer);
      this.leafN = h.nrEntries;
      this.leafMax = h.maxEntries;
      this.pos = 0;
      return;
    }
    const children = new Float64Array(h.nrEntries);
    for (let i = 0; i < h.nrEntries; i++) children[i] = u64ValueAt(b, h.maxEntries, i);
    this.stack.push({ children, next: 0 });
  }
}
