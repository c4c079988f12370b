/**
 * Reads an on-disk space map (bitmaps + ref-count tree) for comparison with
 * counts computed by walking the trees. The structures' own blocks are
 * counted into the computed metadata counts as they are found.
 */
import type { BlockReader } from '../io/block-reader.js';
import { ENTRIES_PER_BITMAP, OVERFLOW, bitmapEntry, validateBitmap } from '../format/bitmap.js';
import { keyAt, valueOffset } from '../format/btree-node.js';
import { MetadataError } from '../format/errors.js';
import { type IndexEntry, INDEX_ENTRY_SIZE, parseIndexEntry, parseMetadataIndex } from '../format/index-entry.js';
import { getU32 } from '../format/le.js';
import type { SpaceMapRoot } from '../format/space-map-root.js';
import type { TreeWalker } from './btree-walker.js';
import type { RefCounts } from './ref-counts.js';
import { grow } from './grow.js';

export interface OnDiskSpaceMap {
  kind: 'data' | 'metadata';
  nrBlocks: number;
  /** Index entries by bitmap number; undefined where the index lacks one. */
  entries: Array<IndexEntry | undefined>;
  /** Ref-count tree contents, sorted by block. */
  overflowBlocks: Float64Array;
  overflowCounts: Uint32Array;
}

export interface SpaceMapProblem {
  block: number;
  message: string;
}

function bitmapCount(nrBlocks: number): number {
  return Math.ceil(nrBlocks / ENTRIES_PER_BITMAP);
}

function readOverflow(walker: TreeWalker, root: number, kind: string): { blocks: Float64Array; counts: Uint32Array } {
  let blocks = new Float64Array(1024);
  let counts = new Uint32Array(1024);
  let n = 0;
  walker.walk(root, 4, `${kind} space map ref-count tree`, (b, _loc, nr, max) => {
    if (n + nr > blocks.length) {
      blocks = grow(blocks, n + nr);
      counts = grow(counts, n + nr);
    }
    for (let i = 0; i < nr; i++) {
      blocks[n] = keyAt(b, i);
      counts[n] = getU32(b, valueOffset(max, 4, i));
      n++;
    }
  });
  return { blocks: blocks.subarray(0, n), counts: counts.subarray(0, n) };
}

/** The data space map: an index B-tree of index entries, bitmaps, a ref-count tree. */
export function readDataSpaceMap(walker: TreeWalker, root: SpaceMapRoot): OnDiskSpaceMap {
  const entries: Array<IndexEntry | undefined> = new Array(bitmapCount(root.nrBlocks)).fill(undefined);
  walker.walk(root.bitmapRoot, INDEX_ENTRY_SIZE, 'data space map index tree', (b, _loc, n, max) => {
    for (let i = 0; i < n; i++) {
      const k = keyAt(b, i);
      if (k < entries.length) entries[k] = parseIndexEntry(b, valueOffset(max, INDEX_ENTRY_SIZE, i));
    }
  });
  const o = readOverflow(walker, root.refCountRoot, 'data');
  return { kind: 'data', nrBlocks: root.nrBlocks, entries, overflowBlocks: o.blocks, overflowCounts: o.counts };
}

/** The metadata space map: one index block, bitmaps, a ref-count tree. */
export function readMetadataSpaceMap(
  reader: BlockReader,
  walker: TreeWalker,
  counts: RefCounts,
  root: SpaceMapRoot,
  problems: SpaceMapProblem[],
): OnDiskSpaceMap {
  const nrBitmaps = bitmapCount(root.nrBlocks);
  let entries: Array<IndexEntry | undefined> = new Array(nrBitmaps).fill(undefined);
  if (root.bitmapRoot >= reader.nrBlocks) {
    problems.push({ block: root.bitmapRoot, message: `metadata space map index block ${root.bitmapRoot} is past the end of the metadata` });
  } else {
    counts.inc(root.bitmapRoot);
    try {
      entries = parseMetadataIndex(reader.read(root.bitmapRoot), root.bitmapRoot, nrBitmaps);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      problems.push({ block: e.block, message: e.message });
    }
  }
  const o = readOverflow(walker, root.refCountRoot, 'metadata');
  return { kind: 'metadata', nrBlocks: root.nrBlocks, entries, overflowBlocks: o.blocks, overflowCounts: o.counts };
}

/** Counts each bitmap block the index names as one metadata reference. */
export function countBitmapBlocks(sm: OnDiskSpaceMap, counts: RefCounts): void {
  for (const e of sm.entries) if (e && e.blocknr < counts.nrBlocks) counts.inc(e.blocknr);
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
  problems: SpaceMapProblem[];
}

const MAX_SAMPLES = 20;

/**
 * Compares on-disk counts with computed ones, bitmap by bitmap, the way
 * thin_check classifies them: a block the disk counts once and nothing
 * uses is a leak (non-fatal); any other difference is fatal.
 */
export function compareCounts(reader: BlockReader, sm: OnDiskSpaceMap, computed: RefCounts): CountComparison {
  const r: CountComparison = { leaked: 0, bad: 0, samples: [], free: 0, problems: [], leakedBlocks: [] };
  let ov = 0;
  const cbytes = computed.bytes;
  for (let bi = 0; bi < sm.entries.length; bi++) {
    const e = sm.entries[bi];
    const first = bi * ENTRIES_PER_BITMAP;
    const last = Math.min(first + ENTRIES_PER_BITMAP, sm.nrBlocks);
    if (!e) {
      r.problems.push({ block: 0, message: `${sm.kind} space map index has no entry for bitmap ${bi} (blocks ${first}..${last - 1})` });
      continue;
    }
    if (e.blocknr >= reader.nrBlocks) {
      r.problems.push({ block: e.blocknr, message: `${sm.kind} bitmap ${bi} at block ${e.blocknr} is past the end of the metadata` });
      continue;
    }
    const bm = reader.read(e.blocknr);
    try {
      validateBitmap(bm, e.blocknr);
    } catch (err) {
      if (!(err instanceof MetadataError)) throw err;
      r.problems.push({ block: err.block, message: `${sm.kind} bitmap ${bi}: ${err.message}` });
      continue;
    }
    for (let b = first; b < last; b++) {
      let disk = bitmapEntry(bm, b - first);
      const c = b < cbytes.length ? (cbytes[b] === 255 ? computed.get(b) : cbytes[b]!) : 0;
      if (disk === OVERFLOW) {
        while (ov < sm.overflowBlocks.length && sm.overflowBlocks[ov]! < b) ov++;
        if (ov < sm.overflowBlocks.length && sm.overflowBlocks[ov] === b) {
          disk = sm.overflowCounts[ov]!;
        } else {
          r.bad++;
          if (r.samples.length < MAX_SAMPLES) r.samples.push({ block: b, onDisk: '3+ (no ref-count entry)', computed: c });
          continue;
        }
      }
      if (disk === 0) r.free++;
      if (disk === c) continue;
      if (disk === 1 && c === 0) {
        r.leaked++;
        r.leakedBlocks.push(b);
      }
      else {
        r.bad++;
        if (r.samples.length < MAX_SAMPLES) r.samples.push({ block: b, onDisk: disk, computed: c });
      }
    }
  }
  return r;
}
