/**
 * Whether the kernel can still commit to this metadata, and how large
 * metadata would have to be for it to.
 *
 * The kernel's rules (drivers/md/dm-thin-metadata.c and dm-thin.c):
 * - __set_metadata_reserve() keeps min(4096, nr_blocks / 10) metadata
 *   blocks in reserve, and dm_pool_get_free_metadata_block_count()
 *   reports the free count less that reserve (0 when below it);
 * - check_for_metadata_space() (dm-thin.c) switches the pool to
 *   out-of-metadata-space mode (read-only for the thins) when that count
 *   is 0, on every commit and when the pool is resumed;
 * - a commit allocates a new block for every node it shadows
 *   (dm-transaction-manager.c dm_tm_shadow_block, through the btree and
 *   space-map code, persistent-data/dm-space-map-metadata.c sm_metadata_new_block):
 *   one path of each tree it changes. With fewer usable blocks than that
 *   the allocation fails with ENOSPC, the kernel aborts the transaction
 *   and sets needs_check (dm-thin.c metadata_operation_failed), leaving
 *   blocks the aborted commit had counted as leaks. A pool made on a real
 *   kernel ran out so at 9 of 64 blocks free (reserve 6, 3 usable).
 */
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode } from '../../format/btree-node.js';
import { MetadataError } from '../../format/errors.js';
import type { Superblock } from '../../format/superblock.js';
import { MAX_METADATA_BLOCKS } from '../../format/index-entry.js';

/** The kernel's reserve (dm-thin-metadata.c __set_metadata_reserve): min(4096, nr_blocks / 10). */
export function metadataReserve(nrBlocks: number): number {
  return Math.min(4096, Math.floor(nrBlocks / 10));
}

/** Height of the tree at `root` (1 for a lone leaf), following first children; 1 when it cannot be read. */
export function treeHeight(reader: BlockReader, root: number): number {
  let b = root;
  for (let h = 1; h <= 32; h++) {
    if (b <= 0 || b >= reader.nrBlocks) return h;
    let node: BTreeNode;
    try {
      node = BTreeNode.validated(reader.read(b), b);
    } catch (e) {
      if (e instanceof MetadataError) return h;
      throw e;
    }
    if (node.isLeaf || node.nrEntries === 0) return h;
    b = node.u64(0);
  }
  return 32;
}

/**
 * The blocks one commit that maps a new data block shadows: a path of the
 * mapping tree (top level and the deepest device tree), of the details
 * tree (mapped_blocks changes), of the data space map's index tree and
 * ref-count tree with one bitmap, and of the metadata space map's
 * ref-count tree with its one index block and one bitmap.
 */
export function commitShadowBlocks(reader: BlockReader, sb: Superblock, deviceRoots: readonly number[]): number {
  let deepest = 1;
  // Device trees of one pool differ in height by little: the first thousand tell.
  for (const r of deviceRoots.slice(0, 1000)) deepest = Math.max(deepest, treeHeight(reader, r));
  return (
    treeHeight(reader, sb.mappingRoot) +
    deepest +
    treeHeight(reader, sb.detailsRoot) +
    treeHeight(reader, sb.dataSpaceMapRoot.bitmapRoot) +
    treeHeight(reader, sb.dataSpaceMapRoot.refCountRoot) +
    1 +
    treeHeight(reader, sb.metadataSpaceMapRoot.refCountRoot) +
    2
  );
}

export interface MetadataSpace {
  nrBlocks: number;
  free: number;
  reserve: number;
  shadow: number;
  /** Free blocks the kernel may use: free less its reserve. */
  usable: number;
  exhausted: boolean;
  /**
   * Below the kernel's low-water mark (dm-thin.c calc_metadata_threshold:
   * min(1024, nr_blocks / 4)), where it raises the event LVM's autoextend
   * answers. A busy transaction needs far more than one commit's shadows:
   * data blocks are allocated before their mappings are inserted, and a
   * real kernel aborted at 96 of 512 free (reserve 51) under writes to
   * snapshots. Not exhausted yet, but the next burst of writes may be.
   */
  low: boolean;
  /** The size (in 4 KiB blocks) to repair into: twice the old, and enough that the same metadata leaves a full reserve and many commits free. */
  growTo: number;
}

export function metadataSpace(nrBlocks: number, free: number, shadow: number): MetadataSpace {
  const reserve = metadataReserve(nrBlocks);
  const usable = Math.max(0, free - reserve);
  const used = nrBlocks - free;
  // new >= used + reserve(new) + 1024 (4 MiB: dm-thin.c calc_metadata_threshold's "ample for all ops").
  let want = Math.ceil(((used + 1024) * 10) / 9);
  if (Math.floor(want / 10) > 4096) want = used + 4096 + 1024;
  // Whole MiB, as LVM and truncate sizes are given.
  const growTo = Math.min(MAX_METADATA_BLOCKS, Math.ceil(Math.max(2 * nrBlocks, want) / 256) * 256);
  const low = free < Math.min(1024, Math.floor(nrBlocks / 4));
  return { nrBlocks, free, reserve, shadow, usable, exhausted: usable === 0 || usable < shadow, low, growTo };
}
