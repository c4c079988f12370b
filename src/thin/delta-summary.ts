/**
 * How much changed between two thin devices, without reading what they
 * share. A node reachable from both trees holds the same entries in both
 * (keys are unique within a tree), so subtrees the two devices share are
 * skipped whole: only internal nodes are read to find them, and only the
 * leaves that differ are read. The same count comes from the devices'
 * mapped_blocks. This is what an incremental backup wants to know first;
 * `delta` itself must read every leaf, since its XML lists each range.
 */
import { NODE_HEADER_SIZE, isLeaf, u64ValueAt, validateNode } from '../format/btree-node.js';
import { FieldError, UsageError } from '../format/errors.js';
import { grow } from '../pdata/grow.js';
import type { Metadata } from './metadata.js';

export interface DeltaSummary {
  left: number;
  right: number;
  /** Blocks mapped to the same data block on both sides. */
  same: number;
  different: number;
  leftOnly: number;
  rightOnly: number;
  /** Leaves read, and subtrees skipped because both devices share them. */
  leavesRead: number;
  sharedSubtreesSkipped: number;
}

/** Every node block of a tree, reading internal nodes only (leaf blocks come from their parents). */
function nodeSet(md: Metadata, root: number): Set<number> {
  const set = new Set<number>([root]);
  const stack = [root];
  while (stack.length) {
    const loc = stack.pop()!;
    const b = md.reader.read(loc);
    const h = validateNode(b, loc, 8);
    if (isLeaf(h)) continue;
    for (let i = 0; i < h.nrEntries; i++) {
      const c = u64ValueAt(b, h.maxEntries, i);
      if (!set.has(c)) {
        set.add(c);
        stack.push(c);
      }
    }
    if (set.size > md.reader.nrBlocks) throw new FieldError(loc, 'children', 'more nodes than blocks: a cycle');
  }
  return set;
}

interface Unshared {
  keys: Float64Array;
  data: Float64Array;
  n: number;
  leaves: number;
  skipped: number;
}

/** Mappings in the parts of `root` that are not in `other`, in key order. */
function unshared(md: Metadata, root: number, other: Set<number>): Unshared {
  const u: Unshared = { keys: new Float64Array(1024), data: new Float64Array(1024), n: 0, leaves: 0, skipped: 0 };
  const visit = (loc: number, depth: number): void => {
    if (other.has(loc)) {
      u.skipped++;
      return;
    }
    if (depth > 32) throw new FieldError(loc, 'depth', 'tree deeper than 32 levels: a cycle');
    const b = md.reader.read(loc);
    const h = validateNode(b, loc, 8);
    if (isLeaf(h)) {
      u.leaves++;
      if (u.n + h.nrEntries > u.keys.length) {
        u.keys = grow(u.keys, u.n + h.nrEntries);
        u.data = grow(u.data, u.n + h.nrEntries);
      }
      const w = new Uint32Array(b.slice().buffer);
      const vb = (NODE_HEADER_SIZE + 8 * h.maxEntries) >>> 2;
      for (let i = 0; i < h.nrEntries; i++) {
        u.keys[u.n] = w[8 + 2 * i]! + w[9 + 2 * i]! * 0x1_0000_0000;
        u.data[u.n++] = w[vb + 2 * i + 1]! * 256 + (w[vb + 2 * i]! >>> 24);
      }
      return;
    }
    const children = new Float64Array(h.nrEntries);
    for (let i = 0; i < h.nrEntries; i++) children[i] = u64ValueAt(b, h.maxEntries, i);
    for (const c of children) visit(c, depth + 1);
  };
  visit(root, 0);
  return u;
}

export function deltaSummary(md: Metadata, left: number, right: number): DeltaSummary {
  const devices = md.devices();
  const l = devices.find((d) => d.devId === left);
  const r = devices.find((d) => d.devId === right);
  if (!l || l.mappingRoot === undefined) throw new UsageError(`--snap1: no thin device ${left} in the metadata`);
  if (!r || r.mappingRoot === undefined) throw new UsageError(`--snap2: no thin device ${right} in the metadata`);
  const lu = unshared(md, l.mappingRoot, nodeSet(md, r.mappingRoot));
  const ru = unshared(md, r.mappingRoot, nodeSet(md, l.mappingRoot));
  let i = 0;
  let j = 0;
  let sameUnshared = 0;
  let different = 0;
  let leftOnly = 0;
  let rightOnly = 0;
  while (i < lu.n || j < ru.n) {
    if (j >= ru.n || (i < lu.n && lu.keys[i]! < ru.keys[j]!)) {
      leftOnly++;
      i++;
    } else if (i >= lu.n || ru.keys[j]! < lu.keys[i]!) {
      rightOnly++;
      j++;
    } else {
      if (lu.data[i] === ru.data[j]) sameUnshared++;
      else different++;
      i++;
      j++;
    }
  }
  // Everything else the left device maps is in subtrees both share.
  const same = l.mappedBlocks - different - leftOnly;
  void sameUnshared;
  return { left, right, same, different, leftOnly, rightOnly, leavesRead: lu.leaves + ru.leaves, sharedSubtreesSkipped: lu.skipped + ru.skipped };
}
