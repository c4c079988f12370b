/**
 * Gives back data blocks the pool does not use: every run of blocks whose
 * count in the data space map is zero becomes a hole (regular file:
 * FALLOC_FL_PUNCH_HOLE via fallocate(1)) or a discard (block device:
 * blkdiscard). Used blocks are never touched; the metadata is only read.
 */
import { ENTRIES_PER_BITMAP, bitmapEntry, validateBitmap } from '../format/bitmap.js';
import { INDEX_ENTRY_SIZE, parseIndexEntry } from '../format/index-entry.js';
import { keyAt, valueOffset } from '../format/btree-node.js';
import { forEachLeaf } from '../pdata/btree-leaves.js';
import type { Metadata } from './metadata.js';
import { grow } from '../pdata/grow.js';

/** Runs of free data blocks, as columns: a fragmented pool has millions. */
export interface FreeRuns {
  n: number;
  /** First data block of each run. */
  begin: Float64Array;
  /** Blocks in each run. */
  length: Float64Array;
}

/** Runs of free data blocks according to the on-disk data space map. */
export function freeDataRuns(md: Metadata): FreeRuns {
  const root = md.superblock.dataSpaceMapRoot;
  const bitmaps: number[] = [];
  forEachLeaf(md.reader, root.bitmapRoot, INDEX_ENTRY_SIZE, (b, _loc, n, max) => {
    for (let i = 0; i < n; i++) bitmaps[keyAt(b, i)] = parseIndexEntry(b, valueOffset(max, INDEX_ENTRY_SIZE, i)).blocknr;
  });
  const runs: FreeRuns = { n: 0, begin: new Float64Array(1024), length: new Float64Array(1024) };
  const push = (b: number, len: number): void => {
    if (runs.n === runs.begin.length) {
      runs.begin = grow(runs.begin);
      runs.length = grow(runs.length);
    }
    runs.begin[runs.n] = b;
    runs.length[runs.n++] = len;
  };
  let start = -1;
  for (let bi = 0; bi * ENTRIES_PER_BITMAP < root.nrBlocks; bi++) {
    const loc = bitmaps[bi];
    if (loc === undefined) throw new Error(`the data space map has no bitmap ${bi}: run dmthin check`);
    const bm = md.reader.read(loc);
    validateBitmap(bm, loc);
    const first = bi * ENTRIES_PER_BITMAP;
    const last = Math.min(first + ENTRIES_PER_BITMAP, root.nrBlocks);
    for (let b = first; b < last; b++) {
      const free = bitmapEntry(bm, b - first) === 0;
      if (free && start < 0) start = b;
      else if (!free && start >= 0) {
        push(start, b - start);
        start = -1;
      }
    }
  }
  if (start >= 0) push(start, root.nrBlocks - start);
  return runs;
}
