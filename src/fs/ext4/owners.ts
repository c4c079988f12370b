/**
 * Which inode maps a block, answered as debugfs icheck answers it: from the
 * in-use inodes' block maps, but searching the blocks' own groups first
 * (the allocator keeps a file's blocks near its inode) and stopping when
 * every block has its owner.
 */
import { FsError } from '../errors.js';
import { inUse } from './inode.js';
import type { Ext4Volume } from './volume.js';
import { lowerBound } from '../sorted.js';

/** The inode that maps each block (data or extent/indirect block), by a search of in-use inodes, the blocks' groups first. */
export function ownersOf(vol: Ext4Volume, blocks: number[]): Map<number, number> {
  const sorted = [...new Set(blocks)].sort((a, b) => a - b);
  const out = new Map<number, number>();
  if (sorted.length === 0) return out;
  const groups = vol.groupDescs();
  const near = new Set(sorted.map((n) => Math.floor((n - vol.sb.firstDataBlock) / vol.sb.blocksPerGroup)));
  const order = [...near, ...groups.map((g) => g.group).filter((g) => !near.has(g))];
  for (const g of order) {
    if (out.size === sorted.length) break;
    const gd = groups[g];
    if (!gd || (gd.flags & 0x1) !== 0) continue;
    const used = vol.sb.inodesPerGroup - Math.min(gd.itableUnused, vol.sb.inodesPerGroup);
    for (let k = 0; k < used && out.size < sorted.length; k++) {
      const ino = g * vol.sb.inodesPerGroup + k + 1;
      if (ino !== 2 && ino < vol.sb.firstIno) continue;
      let map: ReturnType<Ext4Volume['fileMap']>;
      try {
        const i = vol.inode(ino);
        if (!inUse(i)) continue;
        map = vol.fileMap(i);
      } catch (e) {
        // A damaged inode owns nothing we can name; the others still can.
        if (e instanceof FsError) continue;
        throw e;
      }
      // Each extent costs its overlap with the wanted blocks (found by bisection), not its length.
      for (const e of map.extents) {
        for (let j = lowerBound(sorted, e.physical); j < sorted.length && sorted[j] < e.physical + e.length; j++) out.set(sorted[j], ino);
      }
      for (const b of map.metaBlocks) {
        const j = lowerBound(sorted, b);
        if (sorted[j] === b) out.set(b, ino);
      }
    }
  }
  return out;
}
