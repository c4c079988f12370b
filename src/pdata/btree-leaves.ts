/**
 * Visits the leaves of one tree in key order, every time they are reached
 * (a dump lists a shared leaf under each device that shares it). Unlike
 * TreeWalker it judges nothing beyond what reading needs, and throws a
 * typed error at the first node it cannot read.
 */
import type { BlockReader } from '../io/block-reader.js';
import { FieldError } from '../format/errors.js';
import { isLeaf, keyAt, u64ValueAt, validateNode } from '../format/btree-node.js';
import type { LeafHandler } from './btree-walker.js';

const MAX_DEPTH = 32;

export function forEachLeaf(reader: BlockReader, root: number, valueSize: number, onLeaf: LeafHandler): void {
  visit(reader, root, valueSize, onLeaf, 0);
}

function visit(reader: BlockReader, loc: number, valueSize: number, onLeaf: LeafHandler, depth: number): void {
  if (depth > MAX_DEPTH) throw new FieldError(loc, 'depth', 'tree deeper than 32 levels: a cycle');
  const b = reader.read(loc);
  const h = validateNode(b, loc, valueSize);
  if (isLeaf(h)) {
    onLeaf(b, loc, h.nrEntries, h.maxEntries);
    return;
  }
  const n = h.nrEntries;
  const children = new Float64Array(n);
  for (let i = 0; i < n; i++) children[i] = u64ValueAt(b, h.maxEntries, i);
  for (let i = 0; i < n; i++) visit(reader, children[i]!, valueSize, onLeaf, depth + 1);
}

/** Collects a small tree's u64 leaf values by key (the top level: thin id -> root). */
export function collectU64Leaves(reader: BlockReader, root: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  forEachLeaf(reader, root, 8, (b, _loc, n, max) => {
    for (let i = 0; i < n; i++) out.push([keyAt(b, i), u64ValueAt(b, max, i)]);
  });
  return out;
}
