/**
 * The one way to walk a B-tree. Every reader of trees (check, dump, ls,
 * delta, repair, the space-map readers) goes through BTreeTraversal; they
 * differ only in what they do with a problem:
 *
 * - strict (no onProblem): the first problem throws a typed error; for
 *   commands that need every node intact (dump, ls, delta, trim);
 * - tolerant (onProblem given): an unusable node becomes a problem whose
 *   range is the keys it cost, reported in key order between the leaves,
 *   and the walk goes on (repair's holes);
 * - checking (`keepGoing`, `once`, `counts`): as tolerant, but every node is
 *   judged once however many trees share it, every reference is counted,
 *   and the children of a node with bad keys are still walked, so that one
 *   bad node does not hide the rest (thin_check's way).
 *
 * Judging a node is the same in every mode: the codec's checks
 * (BTreeNode.validated), keys strictly increasing and inside the range the
 * parent gave, no empty non-root node, no node its own ancestor, no tree
 * deeper than MAX_DEPTH, and the caller's leaf check.
 *
 * Nodes are read into one buffer a tree level (BlockReader.readInto): a
 * node's bytes stay put while its subtree is walked and cannot change
 * under anyone. Per-block state lives in typed arrays sized by the
 * metadata, made only in the modes that need them; nothing is allocated
 * per entry.
 */
import { must } from '../../errors.js';
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode } from '../../format/btree-node.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { MetadataError, OutOfRangeError } from '../../format/errors.js';
import type { RefCounts } from '../ref-counts.js';
import { type KeyRange, type TreeId, type TreeProblem, type TreeProblemCode, codeOfNodeError, strictError, treeProblem } from './problem.js';

/**
 * Deeper than any real tree (2^40 keys at the smallest fan-out of a
 * non-root node, 84, take 7 levels); a longer chain is a loop.
 */
export const MAX_DEPTH = 32;

/**
 * Called for each usable leaf reached. The node is valid during the call
 * only (its buffer is the traversal's, reused for the next leaf): copy what
 * is kept. Reading other blocks meanwhile is safe.
 */
export type LeafHandler = (node: BTreeNode) => void;
/** Judges a leaf's values; returns why it is unusable (without the block), or undefined. */
export type LeafCheck = (node: BTreeNode) => string | undefined;
export type ProblemHandler = (p: TreeProblem) => void;

export interface TraversalOptions {
  /** Visit each node once across all walks; later visits return its first result (check). */
  once?: boolean;
  /** Count every reference followed into these metadata counts (check). */
  counts?: RefCounts;
  /** Report non-root internal nodes under a third full, as thin_check 1.x does. */
  underfull?: boolean;
  /** Walk the children of a node whose keys are bad (check); otherwise the node is a hole. */
  keepGoing?: boolean;
  /** Judges leaves' values (tolerant walks: a refused leaf becomes a hole). */
  leafCheck?: LeafCheck;
  /** Set to 1 for every usable node a walk reaches (repair's live set). */
  mark?: Uint8Array;
  /** Keep each node's verdict, so that walking shared subtrees again reads no checksum twice. */
  remember?: boolean;
}

export interface Walk {
  valueSize: number;
  tree: TreeId;
  onLeaf?: LeafHandler;
  /** Without it the walk is strict: the first problem throws. */
  onProblem?: ProblemHandler;
  /** The keys the root may hold (default: all). */
  range?: KeyRange;
  /** Skips the subtree at a block before reading it (delta's shared subtrees). */
  skip?: (block: number) => boolean;
}

export interface WalkResult {
  /** Leaf entries under the root, counting shared subtrees once per path. */
  entries: number;
  /** Problems found under the root, shared subtrees included. */
  errors: number;
}

const UNKNOWN = 0;
const GOOD = 1;
const BAD = 2;
/** `once` state per block. */
const DONE_GOOD = 1;
const DONE_BAD = 2;

export interface Verdict {
  code: TreeProblemCode;
  detail: string;
  cause?: MetadataError;
}

const NONE_U8 = new Uint8Array(0);
const NONE_F64 = new Float64Array(0);
const NONE_U32 = new Uint32Array(0);

export class BTreeTraversal {
  /** Intrinsic verdict per block (codec, key order, leaf check) for the value size in judgedFor. */
  private readonly verdict: Uint8Array | undefined;
  /** This and doneEntries, doneErrors: empty unless verdict (done) is kept. */
  private readonly judgedFor: Uint8Array = NONE_U8;
  private readonly why = new Map<number, Verdict>();
  private readonly done: Uint8Array | undefined;
  private readonly doneEntries: Float64Array = NONE_F64;
  private readonly doneErrors: Uint32Array = NONE_U32;
  /** Blocks on the path from the root to the node being visited. */
  private readonly onPath: number[] = [];
  /** Buffer stacks, one buffer a tree level, for walks not running (a walk inside a walk takes its own). */
  private readonly freeStacks: Uint8Array[][] = [];

  constructor(
    private readonly reader: BlockReader,
    private readonly options: TraversalOptions = {},
  ) {
    const n = reader.nrBlocks;
    if (options.remember) {
      this.verdict = new Uint8Array(n);
      this.judgedFor = new Uint8Array(n);
    }
    if (options.once) {
      this.done = new Uint8Array(n);
      this.doneEntries = new Float64Array(n);
      this.doneErrors = new Uint32Array(n);
    }
  }

  /** Walks the tree at `root`: leaves and problems arrive in key order. */
  walk(root: number, w: Walk): WalkResult {
    const range = w.range ?? { lo: 0, hi: Infinity };
    const before = this.errors;
    const stack = this.freeStacks.pop() ?? [];
    try {
      const entries = this.visit(root, range.lo, range.lo, range.hi, true, w, [], 0, stack);
      return { entries, errors: this.errors - before };
    } finally {
      this.freeStacks.push(stack);
    }
  }

  /** Whether `block` is a usable node with `valueSize`-byte leaf values. */
  usable(block: number, valueSize: number): boolean {
    return this.open(block, valueSize) instanceof BTreeNode;
  }

  /**
   * The node at `block` if it is usable, else what is wrong with it. The
   * node is read into `into` (4 KiB, the caller's), or a new buffer.
   */
  open(block: number, valueSize: number, into?: Uint8Array): BTreeNode | Verdict {
    const past = this.pastEnd(block);
    if (past) return past;
    const node = this.judge(block, valueSize, into ?? new Uint8Array(BLOCK_SIZE));
    return this.verdictOf ?? must(node, 'a node judged usable');
  }

  /** The verdict on a pointer outside the metadata, or undefined when it points inside. */
  private pastEnd(block: number): Verdict | undefined {
    if (block >= 0 && block < this.reader.nrBlocks && Number.isInteger(block)) return undefined;
    const e = new OutOfRangeError(block, this.reader.nrBlocks, 'node pointer');
    return { code: 'node-pointer-past-end', detail: e.detail, cause: e };
  }

  /** The verdict of the last judge() call, when the node is unusable. */
  private verdictOf: Verdict | undefined;

  /**
   * Reads and judges a node: returns it whenever its header could be read
   * (bad keys leave it readable), with verdictOf set when it is unusable.
   */
  private judge(loc: number, valueSize: number, into: Uint8Array): BTreeNode | undefined {
    const b = this.reader.readInto(loc, into);
    this.verdictOf = undefined;
    if (this.verdict !== undefined && this.verdict[loc] !== UNKNOWN && this.judgedFor[loc] === valueSize) {
      if (this.verdict[loc] === GOOD) return new BTreeNode(b, loc);
      const v = (this.verdictOf = must(this.why.get(loc), 'the verdict on a node judged bad'));
      return v.code === 'keys-out-of-order' || v.code === 'leaf-values' ? new BTreeNode(b, loc) : undefined;
    }
    let v: Verdict | undefined;
    let node: BTreeNode | undefined;
    try {
      node = BTreeNode.validated(b, loc, valueSize);
      const bad = node.firstBadKey();
      if (bad >= 0) {
        v = { code: 'keys-out-of-order', detail: `keys out of order: key[${bad}] = ${node.key(bad)} after ${node.key(bad - 1)}` };
      } else if (node.isLeaf && this.options.leafCheck) {
        const why = this.options.leafCheck(node);
        if (why) v = { code: 'leaf-values', detail: why };
      }
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      v = { code: codeOfNodeError(e), detail: e.detail, cause: e };
    }
    if (this.verdict) {
      this.verdict[loc] = v ? BAD : GOOD;
      this.judgedFor[loc] = valueSize;
      if (v) this.why.set(loc, v);
    }
    this.verdictOf = v;
    return node;
  }

  /** Problems found so far in this traversal; a subtree's are the difference across its visit. */
  private errors = 0;

  /** Reports a problem: thrown when the walk is strict. */
  private problem(
    w: Walk,
    loc: number,
    holeLo: number,
    hi: number,
    path: readonly number[],
    code: TreeProblemCode,
    detail: string,
    cause?: MetadataError,
  ): void {
    this.errors++;
    const p = treeProblem(code, loc, w.tree, { lo: holeLo, hi }, detail, cause, path.slice());
    if (!w.onProblem) throw strictError(p);
    w.onProblem(p);
  }

  /**
   * Keys must lie in [lo, hi); a problem here costs [holeLo, hi). Returns
   * the leaf entries under `loc` (nothing is allocated per node visited:
   * problems are counted in this.errors).
   */
  private visit(loc: number, holeLo: number, lo: number, hi: number, isRoot: boolean, w: Walk, path: number[], depth: number, stack: Uint8Array[]): number {
    const past = this.pastEnd(loc);
    if (past) {
      this.problem(w, loc, holeLo, hi, path, past.code, past.detail, past.cause);
      return 0;
    }
    if (w.skip?.(loc)) return 0;
    this.options.counts?.inc(loc);
    const done = this.done;
    if (done && done[loc] !== 0) {
      if (done[loc] === DONE_BAD) this.errors += this.doneErrors[loc];
      return this.doneEntries[loc];
    }
    if (depth > MAX_DEPTH || this.onPath.includes(loc)) {
      this.problem(w, loc, holeLo, hi, path, 'node-cycle', CYCLE);
      return 0;
    }
    const errorsBefore = this.errors;
    // One buffer a level: a node's bytes stay put while its subtree is walked.
    let buf = stack[depth];
    if (!buf) buf = stack[depth] = new Uint8Array(BLOCK_SIZE);
    const nd = this.judge(loc, w.valueSize, buf);
    const verdict = this.verdictOf;
    if (verdict) {
      this.problem(w, loc, holeLo, hi, path, verdict.code, verdict.detail, verdict.cause);
      // Bad keys alone still leave the children readable: a checker walks them.
      if (!(this.options.keepGoing && verdict.code === 'keys-out-of-order')) return this.finish(loc, 0, errorsBefore);
    }
    const node = must(nd, 'a node judged walkable');
    const n = node.nrEntries;
    if (n === 0) {
      if (isRoot && this.options.mark) this.options.mark[loc] = 1;
      if (!isRoot) this.problem(w, loc, holeLo, hi, path, 'node-empty', EMPTY);
      return this.finish(loc, 0, errorsBefore);
    }
    const outside = verdict ? undefined : keysOutside(node, lo, hi);
    if (outside) {
      this.problem(w, loc, holeLo, hi, path, 'key-outside-parent-range', outside);
      if (!this.options.keepGoing) return this.finish(loc, 0, errorsBefore);
    }
    const clean = this.errors === errorsBefore;
    if (this.options.mark && clean) this.options.mark[loc] = 1;
    if (node.isLeaf) {
      if (clean) w.onLeaf?.(node);
      return this.finish(loc, clean ? n : 0, errorsBefore);
    }
    if (this.options.underfull && !isRoot && n < node.maxEntries / 3) {
      this.problem(w, loc, holeLo, hi, path, 'node-underfull', `internal node underfull: ${n} of ${node.maxEntries} entries`);
    }
    let entries = 0;
    this.onPath.push(loc);
    try {
      for (let i = 0; i < n; i++) {
        const key = node.key(i);
        path.push(key);
        // A lost first child loses everything from the parent's lower bound.
        entries += this.visit(node.u64(i), i === 0 ? holeLo : key, key, i + 1 < n ? node.key(i + 1) : hi, false, w, path, depth + 1, stack);
        path.pop();
      }
    } finally {
      this.onPath.pop();
    }
    return this.finish(loc, entries, errorsBefore);
  }

  private finish(loc: number, entries: number, errorsBefore: number): number {
    if (this.done) {
      const errors = this.errors - errorsBefore;
      this.done[loc] = errors === 0 ? DONE_GOOD : DONE_BAD;
      this.doneEntries[loc] = entries;
      this.doneErrors[loc] = Math.min(errors, 0xffffffff);
    }
    return entries;
  }
}

export const CYCLE = 'cycle: node is its own ancestor';
export const EMPTY = 'empty non-root node';

/** Why a node's keys leave the range [lo, hi) its parent gave it, or undefined. */
export function keysOutside(node: BTreeNode, lo: number, hi: number): string | undefined {
  const n = node.nrEntries;
  if (n === 0 || (node.key(0) >= lo && node.key(n - 1) < hi)) return undefined;
  const k = node.key(0) < lo ? node.key(0) : node.key(node.firstBadKey(lo, hi));
  return `key ${k} outside the parent's range [${lo}, ${hi === Infinity ? 'end' : hi})`;
}

/** Calls `onLeaf` for every leaf of the tree at `root` in key order; throws at the first problem. */
export function forEachLeaf(reader: BlockReader, root: number, valueSize: number, tree: TreeId, onLeaf: LeafHandler): void {
  new BTreeTraversal(reader).walk(root, { valueSize, tree, onLeaf });
}

/** Collects a small tree's u64 leaf values by key (the top level: thin id -> root). */
export function collectU64Leaves(reader: BlockReader, root: number, tree: TreeId = { kind: 'top-level' }): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  forEachLeaf(reader, root, 8, tree, (node) => {
    for (let i = 0; i < node.nrEntries; i++) out.push([node.key(i), node.u64(i)]);
  });
  return out;
}

/**
 * The highest key in the tree at `root`, or -1 when it is empty: read down
 * the rightmost path only (a node a level), not the whole tree. Throws at
 * an unusable node on that path, as strict walks do.
 */
export function highestKey(reader: BlockReader, root: number, valueSize: number, tree: TreeId): number {
  const t = new BTreeTraversal(reader);
  const buf = new Uint8Array(BLOCK_SIZE);
  let block = root;
  for (let depth = 0; ; depth++) {
    const node = t.open(block, valueSize, buf);
    if (!(node instanceof BTreeNode)) throw strictError(treeProblem(node.code, block, tree, { lo: 0, hi: Infinity }, node.detail, node.cause));
    // As the walk judges them: an empty root is an empty tree, an empty node below it a problem, and so is a path too deep.
    if (node.nrEntries === 0 && depth === 0) return -1;
    if (node.nrEntries === 0) throw strictError(treeProblem('node-empty', block, tree, { lo: 0, hi: Infinity }, EMPTY));
    if (node.isLeaf) return node.key(node.nrEntries - 1);
    if (depth >= MAX_DEPTH) throw strictError(treeProblem('node-cycle', block, tree, { lo: 0, hi: Infinity }, CYCLE));
    block = node.u64(node.nrEntries - 1);
  }
}
