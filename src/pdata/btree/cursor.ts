/**
 * A pull iterator over the u64-valued entries of one B-tree in key order,
 * for walks that advance two trees in step (delta). It holds one path of
 * nodes, never the whole tree, and judges each node as BTreeTraversal does
 * (strict: the first problem throws).
 */
import { must } from '../../errors.js';
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode } from '../../format/btree-node.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { type TreeId, type TreeProblem, type TreeProblemCode, strictError, treeProblem } from './problem.js';
import { BTreeTraversal, CYCLE, EMPTY, MAX_DEPTH, keysOutside } from './traversal.js';

interface Frame {
  node: BTreeNode;
  next: number;
  /** The parent's bound on this node's keys. */
  hi: number;
}

export class LeafCursor {
  private readonly traversal: BTreeTraversal;
  private readonly stack: Frame[] = [];
  /** One buffer a level: a frame's node stays put while the levels below it are read. */
  private readonly buffers: Uint8Array[] = [];
  private leaf: BTreeNode | undefined;
  private pos = 0;
  /** The current entry's key. */
  key = 0;

  /**
   * `skip(loc)` true: the child at block `loc` and everything below it are
   * passed over unread (delta skips the subtrees two devices share).
   */
  constructor(
    reader: BlockReader,
    root: number,
    private readonly tree: TreeId,
    private readonly skip?: (loc: number) => boolean,
  ) {
    this.traversal = new BTreeTraversal(reader);
    this.descend(root, 0, Infinity, true);
  }

  /** The current entry's u64 value. */
  get value(): number {
    return this.current.u64(this.pos - 1);
  }

  /** The current entry's value as block_time: data block and time. */
  get dataBlock(): number {
    return this.current.dataBlock(this.pos - 1);
  }

  get time(): number {
    return this.current.time(this.pos - 1);
  }

  /** The leaf of the current entry: there is one once next() has returned true. */
  private get current(): BTreeNode {
    return must(this.leaf, 'the current leaf (next() returns true first)');
  }

  /** Moves to the next entry; false at the end. */
  next(): boolean {
    for (;;) {
      if (this.leaf && this.pos < this.leaf.nrEntries) {
        const i = this.pos++;
        this.key = this.leaf.key(i);
        return true;
      }
      this.leaf = undefined;
      const top = this.stack[this.stack.length - 1];
      if (!top) return false;
      if (top.next >= top.node.nrEntries) {
        this.stack.pop();
        continue;
      }
      const i = top.next++;
      const child = top.node.u64(i);
      if (this.skip?.(child)) continue;
      const key = top.node.key(i);
      this.descend(child, key, i + 1 < top.node.nrEntries ? top.node.key(i + 1) : top.hi, false);
    }
  }

  private fail(code: TreeProblemCode, block: number, lo: number, hi: number, detail: string, cause?: TreeProblem['cause']): never {
    throw strictError(treeProblem(code, block, this.tree, { lo, hi }, detail, cause));
  }

  private descend(loc: number, lo: number, hi: number, isRoot: boolean): void {
    if (this.stack.length > MAX_DEPTH || this.stack.some((f) => f.node.location === loc)) {
      this.fail('node-cycle', loc, lo, hi, CYCLE);
    }
    const level = this.stack.length;
    let buf = this.buffers[level];
    if (!buf) buf = this.buffers[level] = new Uint8Array(BLOCK_SIZE);
    const opened = this.traversal.open(loc, 8, buf);
    if (!(opened instanceof BTreeNode)) this.fail(opened.code, loc, lo, hi, opened.detail, opened.cause);
    const node = opened;
    const n = node.nrEntries;
    if (n === 0 && !isRoot) this.fail('node-empty', loc, lo, hi, EMPTY);
    const outside = keysOutside(node, lo, hi);
    if (outside) this.fail('key-outside-parent-range', loc, lo, hi, outside);
    if (node.isLeaf) {
      this.leaf = node;
      this.pos = 0;
      return;
    }
    this.stack.push({ node, next: 0, hi });
  }
}
