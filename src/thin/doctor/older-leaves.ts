/**
 * Every block of the metadata that is a mapping leaf with a valid
 * checksum (live or an older copy left behind by copy-on-write), read for
 * its entries at lost virtual blocks: which keys were mapped there at some
 * time, and to which data blocks. Evidence only: a block found so belongs
 * to no tree that says whose it is.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode, LEAF_NODE } from '../../format/btree-node.js';
import { BLOCK_SIZE, Salt, computeChecksum, storedChecksum } from '../../format/checksum.js';

export interface OlderEntry {
  block: number;
  key: number;
  data: number;
  time: number;
}

/** The entries, in block order, of every checksummed mapping-leaf-shaped block (not `live`: another device's current leaf says nothing of this one's past) whose key `wanted` accepts. */
export function scanLeafEntries(reader: BlockReader, wanted: (key: number) => boolean, live?: Uint8Array): OlderEntry[] {
  const out: OlderEntry[] = [];
  for (let b = 1; b < reader.nrBlocks; b++) {
    if (live?.[b]) continue;
    const bytes = reader.read(b);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, BLOCK_SIZE);
    // flags, value size: a leaf of block_time values; the checksum last (the costly part).
    if (dv.getUint32(4, true) !== LEAF_NODE || dv.getUint32(24, true) !== 8) continue;
    if (computeChecksum(bytes, Salt.btreeNode) !== storedChecksum(bytes)) continue;
    const node = new BTreeNode(bytes, b);
    if (node.blocknr !== b || node.nrEntries > node.maxEntries) continue;
    for (let i = 0; i < node.nrEntries; i++) {
      const key = node.key(i);
      if (wanted(key)) out.push({ block: b, key, data: node.dataBlock(i), time: node.time(i) });
    }
  }
  return out;
}
