import type { TreeId } from '../../pdata/btree/problem.js';
import { nodeSet } from '../../pdata/btree/node-set.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { grow } from '../../pdata/grow.js';
import { type Metadata, noSuchDevice } from '../metadata.js';

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

interface Unshared {
  keys: Float64Array;
  data: Float64Array;
  n: number;
  leaves: number;
  skipped: number;
}

/** Mappings in the parts of `root` that are not in `other`, in key order. */
function unshared(t: BTreeTraversal, root: number, tree: TreeId, other: Set<number>): Unshared {
  const u: Unshared = { keys: new Float64Array(1024), data: new Float64Array(1024), n: 0, leaves: 0, skipped: 0 };
  t.walk(root, {
    valueSize: 8,
    tree,
    skip: (loc) => {
      if (!other.has(loc)) return false;
      u.skipped++;
      return true;
    },
    onLeaf: (node) => {
      u.leaves++;
      const n = node.nrEntries;
      if (u.n + n > u.keys.length) {
        u.keys = grow(u.keys, u.n + n);
        u.data = grow(u.data, u.n + n);
      }
      for (let i = 0; i < n; i++) {
        u.keys[u.n] = node.key(i);
        u.data[u.n++] = node.dataBlock(i);
      }
    },
  });
  return u;
}

export function deltaSummary(md: Metadata, left: number, right: number): DeltaSummary {
  const devices = md.devices();
  const l = devices.find((d) => d.devId === left);
  const r = devices.find((d) => d.devId === right);
  if (!l || l.mappingRoot === undefined) throw noSuchDevice(left, devices, '--snap1: ');
  if (!r || r.mappingRoot === undefined) throw noSuchDevice(right, devices, '--snap2: ');
  const t = new BTreeTraversal(md.reader);
  const lt: TreeId = { kind: 'mappings', devId: left };
  const rt: TreeId = { kind: 'mappings', devId: right };
  const lu = unshared(t, l.mappingRoot, lt, nodeSet(t, r.mappingRoot, rt));
  const ru = unshared(t, r.mappingRoot, rt, nodeSet(t, l.mappingRoot, lt));
  let i = 0;
  let j = 0;
  let sameUnshared = 0;
  let different = 0;
  let leftOnly = 0;
  let rightOnly = 0;
  while (i < lu.n || j < ru.n) {
    if (j >= ru.n || (i < lu.n && lu.keys[i] < ru.keys[j])) {
      leftOnly++;
      i++;
    } else if (i >= lu.n || ru.keys[j] < lu.keys[i]) {
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
