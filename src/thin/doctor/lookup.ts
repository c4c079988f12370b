/**
 * One virtual block's mapping, read down one path of a device's tree (the
 * kernel's lookup, not a walk): what candidate matching needs to read a
 * device's surviving data at a few offsets. A node that cannot be read on
 * the way answers "not known", never a guess.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode } from '../../format/btree-node.js';
import { MetadataError } from '../../format/errors.js';
import { MAX_DEPTH } from '../../pdata/btree/traversal.js';

export function lookupMapping(reader: BlockReader, root: number | undefined, v: number): number | undefined {
  return lookupMappingKnown(reader, root, v) ?? undefined;
}

/** The same, telling "not mapped" (null) from "not known" (undefined: a node on the way cannot be read). */
export function lookupMappingKnown(reader: BlockReader, root: number | undefined, v: number): number | null | undefined {
  let b = root;
  for (let depth = 0; depth < MAX_DEPTH && b !== undefined; depth++) {
    if (b <= 0 || b >= reader.nrBlocks) return undefined;
    let node: BTreeNode;
    try {
      node = BTreeNode.validated(reader.read(b), b, 8);
    } catch (e) {
      if (e instanceof MetadataError) return undefined;
      throw e;
    }
    const at = node.lastKeyNotAbove(v);
    if (at < 0) return null;
    if (node.isLeaf) return node.key(at) === v ? node.dataBlock(at) : null;
    b = node.u64(at);
  }
  return undefined;
}
