/**
 * Tight loops over every mapping of one device, shared by ls, rmap and
 * trim: (virtual block, data block) pairs straight from the leaves, no
 * objects per mapping.
 */
import { forEachLeaf } from '../pdata/btree/traversal.js';
import type { BlockReader } from '../io/block-reader.js';

/** Calls fn(vblock, dataBlock, time) for every mapping of device `devId` (tree at `root`), in key order. */
export function forEachMapping(reader: BlockReader, root: number, devId: number, fn: (vblock: number, data: number, time: number) => void): void {
  forEachLeaf(reader, root, 8, { kind: 'mappings', devId }, (node) => {
    for (let i = 0; i < node.nrEntries; i++) fn(node.key(i), node.dataBlock(i), node.time(i));
  });
}

/** Calls fn(dataBlock) for every mapping of device `devId` (the hot path of ls). */
export function forEachDataBlock(reader: BlockReader, root: number, devId: number, fn: (data: number) => void): void {
  forEachLeaf(reader, root, 8, { kind: 'mappings', devId }, (node) => {
    for (let i = 0; i < node.nrEntries; i++) fn(node.dataBlock(i));
  });
}
