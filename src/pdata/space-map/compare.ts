/**
 * check's half of the space maps: reads both on-disk maps (through
 * reader.ts, with the checking traversal, so their own blocks are counted
 * into the computed metadata counts) and compares them, block by block,
 * with the counts computed by walking the trees.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { ENTRIES_PER_BITMAP, OVERFLOW, bitmapEntry } from '../../format/bitmap.js';
import { MetadataError } from '../../format/errors.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import type { BTreeTraversal, ProblemHandler } from '../btree/traversal.js';
import type { RefCounts } from '../ref-counts.js';
import { type RefCountTree, type SpaceMapIndex, type SpaceMapKind, readBitmap, readIndex, readRefCounts } from './reader.js';

export interface OnDiskSpaceMap {
  kind: SpaceMapKind;
  nrBlocks: number;
  index: SpaceMapIndex;
  refCounts: RefCountTree;
}

export interface SpaceMapProblem {
  block: number;
  message: string;
}

/**
 * Reads a space map for comparison. `walk` is check's traversal (it counts
 * every tree node it reaches); the metadata index block is counted here.
 * Tree problems go to `onProblem`, the index block's to `problems`.
 */
export function readSpaceMap(
  reader: BlockReader,
  kind: SpaceMapKind,
  root: SpaceMapRoot,
  walk: BTreeTraversal,
  counts: RefCounts,
  onProblem: ProblemHandler,
  problems: SpaceMapProblem[],
): OnDiskSpaceMap {
  if (kind === 'metadata' && root.bitmapRoot < reader.nrBlocks) counts.inc(root.bitmapRoot);
  const index = readIndex(reader, kind, root, walk, onProblem);
  if (index.indexError) problems.push({ block: index.indexError.block, message: index.indexError.detail });
  const refCounts = readRefCounts(root.refCountRoot, kind, walk, onProblem);
  return { kind, nrBlocks: root.nrBlocks, index, refCounts };
}

/** Counts each bitmap block the index names as one metadata reference. */
export function countBitmapBlocks(sm: OnDiskSpaceMap, counts: RefCounts): void {
  for (const e of sm.index.entries) if (e && e.blocknr < counts.nrBlocks) counts.inc(e.blocknr);
}

export interface CountComparison {
  /** On disk 1, computed 0: a block allocated but used by nothing. */
  leaked: number;
  /** Every other difference. */
  bad: number;
  /** The first differences, for the report. */
  samples: Array<{ block: number; onDisk: number | string; computed: number }>;
  /** Blocks whose on-disk count is 0. */
  free: number;
  /** The leaked blocks themselves, for --auto-repair. */
  leakedBlocks: number[];
  /**
   * Blocks the disk counts used (any count) that nothing found uses: the leaks
   * and, when trees are damaged, blocks shared only by lost nodes (counted 2+).
   */
  unusedBlocks: number[];
  problems: SpaceMapProblem[];
}

const MAX_SAMPLES = 20;

/**
 * Compares on-disk counts with computed ones, bitmap by bitmap, the way
 * thin_check classifies them: a block the disk counts once and nothing
 * uses is a leak (non-fatal); any other difference is fatal.
 */
export function compareCounts(reader: BlockReader, sm: OnDiskSpaceMap, computed: RefCounts): CountComparison {
  const r: CountComparison = { leaked: 0, bad: 0, samples: [], free: 0, problems: [], leakedBlocks: [], unusedBlocks: [] };
  let ov = 0;
  const cbytes = computed.bytes;
  const ovBlocks = sm.refCounts.blocks;
  const ovCounts = sm.refCounts.counts;
  for (let bi = 0; bi < sm.index.entries.length; bi++) {
    const first = bi * ENTRIES_PER_BITMAP;
    const last = Math.min(first + ENTRIES_PER_BITMAP, sm.nrBlocks);
    let bm: Uint8Array;
    try {
      bm = readBitmap(reader, sm.index, bi);
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err;
      r.problems.push({ block: err.block, message: err.detail });
      continue;
    }
    for (let b = first; b < last; b++) {
      let disk = bitmapEntry(bm, b - first);
      const c = b < cbytes.length ? (cbytes[b] === 255 ? computed.get(b) : cbytes[b]) : 0;
      if (disk === OVERFLOW) {
        while (ov < ovBlocks.length && ovBlocks[ov] < b) ov++;
        if (ov < ovBlocks.length && ovBlocks[ov] === b) {
          disk = ovCounts[ov];
        } else {
          r.bad++;
          if (r.samples.length < MAX_SAMPLES) r.samples.push({ block: b, onDisk: '3+ (no ref-count entry)', computed: c });
          continue;
        }
      }
      if (disk === 0) r.free++;
      if (disk === c) continue;
      if (c === 0) r.unusedBlocks.push(b);
      if (disk === 1 && c === 0) {
        r.leaked++;
        r.leakedBlocks.push(b);
      } else {
        r.bad++;
        if (r.samples.length < MAX_SAMPLES) r.samples.push({ block: b, onDisk: disk, computed: c });
      }
    }
  }
  return r;
}
