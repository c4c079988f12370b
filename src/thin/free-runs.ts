/**
 * Gives back data blocks the pool does not use: every run of blocks whose
 * count in the data space map is zero becomes a hole (regular file:
 * FALLOC_FL_PUNCH_HOLE via fallocate(1)) or a discard (block device:
 * blkdiscard). Used blocks are never touched; the metadata is only read.
 */
import { bitmapEntry } from '../format/bitmap.js';
import { BTreeTraversal } from '../pdata/btree/traversal.js';
import { bitmapSpan, readBitmap, readIndex } from '../pdata/space-map/reader.js';
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
  const index = readIndex(md.reader, 'data', root, new BTreeTraversal(md.reader));
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
  for (let bi = 0; bi < index.entries.length; bi++) {
    const bm = readBitmap(md.reader, index, bi);
    const { first, count } = bitmapSpan(index, bi);
    for (let b = first; b < first + count; b++) {
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
