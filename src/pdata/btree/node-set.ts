/**
 * Every node block of a B-tree, found by reading its internal nodes and
 * one leaf: the tree is balanced, so the leftmost path gives its height
 * and the leaves' blocks come from their parents. Two trees that share a subtree (a thin device and its snapshot)
 * share its blocks: whoever walks one tree can skip, unread, every child
 * the other tree's set holds. Only what must be read to find the blocks is
 * judged here; the walk that follows judges every node it reads.
 */
import { BTreeNode } from '../../format/btree-node.js';
import { type TreeId, strictError, treeProblem } from './problem.js';
import { BTreeTraversal, MAX_DEPTH } from './traversal.js';
import type { BlockReader } from '../../io/block-reader.js';

export function nodeSet(reader: BlockReader | BTreeTraversal, root: number, tree: TreeId, valueSize = 8): Set<number> {
  const t = reader instanceof BTreeTraversal ? reader : new BTreeTraversal(reader);
  const set = new Set<number>([root]);
  const open = (loc: number): BTreeNode => {
    const n = t.open(loc, valueSize);
    if (n instanceof BTreeNode) return n;
    throw strictError(treeProblem(n.code, loc, tree, { lo: 0, hi: Infinity }, n.detail, n.cause));
  };
  const top = open(root);
  let height = 0; // levels below the root
  for (let n = top; !n.isLeaf && n.nrEntries > 0 && height <= MAX_DEPTH; height++) n = open(n.u64(0));
  const stack: [BTreeNode, number][] = [[top, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, level] = entry;
    if (level >= height) continue;
    for (let i = 0; i < node.nrEntries; i++) {
      const c = node.u64(i);
      if (set.has(c)) continue;
      set.add(c);
      if (level + 1 < height) stack.push([open(c), level + 1]);
    }
  }
  return set;
}
