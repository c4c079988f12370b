/**
 * Space-map root, the first 32 of the 128 bytes the superblock reserves for
 * each space map (dm-space-map-common.h, struct disk_sm_root):
 * ```
 *  0 u64 nr_blocks       blocks the map covers
 *  8 u64 nr_allocated    blocks with a count > 0
 * 16 u64 bitmap_root     metadata map: its index block; data map: index B-tree root
 * 24 u64 ref_count_root  B-tree: block -> u32 count, for counts >= 3
 * ```
 */
import { getU64, setU64 } from './le.js';

export interface SpaceMapRoot {
  nrBlocks: number;
  nrAllocated: number;
  bitmapRoot: number;
  refCountRoot: number;
}

export function parseSpaceMapRoot(bytes: Uint8Array): SpaceMapRoot {
  return {
    nrBlocks: getU64(bytes, 0),
    nrAllocated: getU64(bytes, 8),
    bitmapRoot: getU64(bytes, 16),
    refCountRoot: getU64(bytes, 24),
  };
}

/** Writes the 32 bytes of `root` into `out` (at least 32 bytes long). */
export function writeSpaceMapRoot(root: SpaceMapRoot, out: Uint8Array): void {
  setU64(out, 0, root.nrBlocks);
  setU64(out, 8, root.nrAllocated);
  setU64(out, 16, root.bitmapRoot);
  setU64(out, 24, root.refCountRoot);
}
