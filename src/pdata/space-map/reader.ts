/**
 * The one reader of an on-disk space map's index and ref-count tree, for
 * check, repair's look-ups, trim, the report and check --auto-repair.
 *
 * The index says where each bitmap lives: for the data space map it is a
 * B-tree of index entries keyed by bitmap number, for the metadata space
 * map a single index block. Counts of 3 and more live in the ref-count
 * tree. How problems are met is the traversal's choice (strict, tolerant
 * or checking: pdata/btree/traversal.ts); what could not be read is kept
 * as lost key ranges, so a caller can say "unknown" rather than guess.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { ENTRIES_PER_BITMAP, nrBitmaps, validateBitmap } from '../../format/bitmap.js';
import { MetadataError } from '../../format/errors.js';
import { INDEX_ENTRY_SIZE, type IndexEntry, parseIndexEntry, parseMetadataIndex } from '../../format/index-entry.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import type { BTreeTraversal, ProblemHandler } from '../btree/traversal.js';
import type { KeyRange } from '../btree/problem.js';
import { grow } from '../grow.js';

export type SpaceMapKind = 'data' | 'metadata';

/** Where a data space map's index entry lives, for a writer that updates it. */
export interface EntrySlot {
  leaf: number;
  slot: number;
}

export interface SpaceMapIndex {
  kind: SpaceMapKind;
  nrBlocks: number;
  /** The index: the data map's index tree root, the metadata map's index block. */
  root: number;
  /** Index entries by bitmap number; undefined where the index lacks one. */
  entries: Array<IndexEntry | undefined>;
  /** Data space map: the leaf and slot of each entry. */
  slots: Array<EntrySlot | undefined>;
  /** Bitmap numbers whose entries could not be read. */
  lost: KeyRange[];
  /** Why the metadata index block could not be read. */
  indexError?: MetadataError;
}

export interface RefCountTree {
  /** Blocks with a count of 3 or more, sorted, and their counts. */
  blocks: Float64Array;
  counts: Uint32Array;
  /** Block ranges whose counts could not be read. */
  lost: KeyRange[];
}

/**
 * Reads the index of a space map. `walk` reads the data index tree;
 * `onProblem` (absent: strict, the first problem throws) hears of its
 * damage. A damaged metadata index block is kept in indexError (strict:
 * thrown).
 */
export function readIndex(reader: BlockReader, kind: SpaceMapKind, root: SpaceMapRoot, walk: BTreeTraversal, onProblem?: ProblemHandler): SpaceMapIndex {
  const count = nrBitmaps(root.nrBlocks);
  const index: SpaceMapIndex = { kind, nrBlocks: root.nrBlocks, root: root.bitmapRoot, entries: new Array(count).fill(undefined), slots: [], lost: [] };
  if (kind === 'data') {
    walk.walk(root.bitmapRoot, {
      valueSize: INDEX_ENTRY_SIZE,
      tree: { kind: 'data-index' },
      onLeaf: (node) => {
        for (let i = 0; i < node.nrEntries; i++) {
          const k = node.key(i);
          if (k >= count) continue;
          index.entries[k] = parseIndexEntry(node.bytes, node.valueOffset(i));
          index.slots[k] = { leaf: node.location, slot: i };
        }
      },
      onProblem: keepingLost(index.lost, onProblem),
    });
    return index;
  }
  if (root.bitmapRoot >= reader.nrBlocks) {
    const e = new SpaceMapError(root.bitmapRoot, `metadata space map index block ${root.bitmapRoot} is past the end of the metadata`);
    if (!onProblem) throw e;
    index.indexError = e;
    index.lost.push({ lo: 0, hi: Infinity });
    return index;
  }
  try {
    const entries = parseMetadataIndex(reader.read(root.bitmapRoot), root.bitmapRoot, count);
    for (let i = 0; i < entries.length; i++) index.entries[i] = entries[i];
  } catch (e) {
    if (!(e instanceof MetadataError) || !onProblem) throw e;
    index.indexError = e;
    index.lost.push({ lo: 0, hi: Infinity });
  }
  return index;
}

/** `onProblem`, also keeping each problem's lost range in `lost`; undefined (strict) without one. */
function keepingLost(lost: KeyRange[], onProblem: ProblemHandler | undefined): ProblemHandler | undefined {
  if (!onProblem) return undefined;
  return (p) => {
    lost.push(p.range);
    onProblem(p);
  };
}

/** Reads a ref-count tree (block -> u32 count, for counts of 3 and more). */
export function readRefCounts(root: number, kind: SpaceMapKind, walk: BTreeTraversal, onProblem?: ProblemHandler): RefCountTree {
  let blocks = new Float64Array(1024);
  let counts = new Uint32Array(1024);
  let n = 0;
  const lost: KeyRange[] = [];
  walk.walk(root, {
    valueSize: 4,
    tree: { kind: kind === 'data' ? 'data-ref-counts' : 'metadata-ref-counts' },
    onLeaf: (node) => {
      const nr = node.nrEntries;
      if (n + nr > blocks.length) {
        blocks = grow(blocks, n + nr);
        counts = grow(counts, n + nr);
      }
      for (let i = 0; i < nr; i++) {
        blocks[n] = node.key(i);
        counts[n++] = node.u32(i);
      }
    },
    onProblem: keepingLost(lost, onProblem),
  });
  return { blocks: blocks.subarray(0, n), counts: counts.subarray(0, n), lost };
}

/** The count of `block` in a ref-count tree, or undefined when the tree has no entry. */
export function refCountOf(t: RefCountTree, block: number): number | undefined {
  let lo = 0;
  let hi = t.blocks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t.blocks[mid] < block) lo = mid + 1;
    else hi = mid;
  }
  return lo < t.blocks.length && t.blocks[lo] === block ? t.counts[lo] : undefined;
}

/** The first space-map block bitmap `bi` covers, and how many. */
export function bitmapSpan(index: SpaceMapIndex, bi: number): { first: number; count: number } {
  const first = bi * ENTRIES_PER_BITMAP;
  return { first, count: Math.max(0, Math.min(ENTRIES_PER_BITMAP, index.nrBlocks - first)) };
}

/**
 * Bitmap `bi`'s block, validated; throws a typed error naming the space
 * map and bitmap when it is missing, past the end or damaged.
 */
export function readBitmap(reader: BlockReader, index: SpaceMapIndex, bi: number): Uint8Array {
  const e = index.entries[bi];
  const { first, count } = bitmapSpan(index, bi);
  if (!e) throw new SpaceMapError(index.root, `${index.kind} space map index has no entry for bitmap ${bi} (blocks ${first}..${first + count - 1})`);
  if (e.blocknr >= reader.nrBlocks) {
    throw new SpaceMapError(e.blocknr, `${index.kind} bitmap ${bi} is past the end of the metadata`);
  }
  const bm = reader.read(e.blocknr);
  try {
    validateBitmap(bm, e.blocknr);
  } catch (err) {
    if (!(err instanceof MetadataError)) throw err;
    throw new SpaceMapError(err.block, `${index.kind} bitmap ${bi}: ${err.detail}`);
  }
  return bm;
}

/** A bitmap that cannot be used; the detail names the space map and the bitmap. */
export class SpaceMapError extends MetadataError {}
