/**
 * Tight loops over every mapping of one device, shared by ls, rmap and
 * trim: (virtual block, data block) pairs straight from the leaves, no
 * objects per mapping.
 */
import { NODE_HEADER_SIZE } from '../format/btree-node.js';
import { forEachLeaf } from '../pdata/btree-leaves.js';
import type { BlockReader } from '../io/block-reader.js';

/** Calls fn(vblock, dataBlock, time) for every mapping under `root`, in key order. */
export function forEachMapping(reader: BlockReader, root: number, fn: (vblock: number, data: number, time: number) => void): void {
  forEachLeaf(reader, root, 8, (b, _loc, n, max) => {
    const w = (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset, 1024) : new Uint32Array(b.slice().buffer);
    const vbase = (NODE_HEADER_SIZE + 8 * max) >>> 2;
    const kbase = NODE_HEADER_SIZE >>> 2;
    for (let i = 0; i < n; i++) {
      const lo = w[vbase + 2 * i]!;
      fn(w[kbase + 2 * i]! + w[kbase + 2 * i + 1]! * 0x1_0000_0000, w[vbase + 2 * i + 1]! * 256 + (lo >>> 24), lo & 0xffffff);
    }
  });
}

/** Calls fn(dataBlock) for every mapping under `root` (the hot path of ls). */
export function forEachDataBlock(reader: BlockReader, root: number, fn: (data: number) => void): void {
  forEachLeaf(reader, root, 8, (b, _loc, n, max) => {
    const w = (b.byteOffset & 3) === 0 ? new Uint32Array(b.buffer, b.byteOffset, 1024) : new Uint32Array(b.slice().buffer);
    const vbase = (NODE_HEADER_SIZE + 8 * max) >>> 2;
    for (let i = 0; i < n; i++) fn(w[vbase + 2 * i + 1]! * 256 + (w[vbase + 2 * i]! >>> 24));
  });
}
