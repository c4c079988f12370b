/**
 * Writes space maps from computed reference counts: bitmaps (2 bits a
 * block, 3 meaning "see the ref-count tree"), the ref-count tree for counts
 * of 3 and more, and the index: a B-tree of index entries for the data
 * map, the single index block for the metadata map.
 */
import { ENTRIES_PER_BITMAP, OVERFLOW, newBitmap, nrBitmaps, sealBitmap, setBitmapEntry } from '../../format/bitmap.js';
import { INDEX_ENTRY_SIZE, type IndexEntry, writeIndexEntry, writeMetadataIndex } from '../../format/index-entry.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import { BTreeBuilder, type NodeSink } from '../btree/builder.js';
import type { RefCounts } from '../ref-counts.js';

/** Writes the bitmaps at the given locations and returns their index entries. */
export function writeBitmaps(sink: NodeSink, counts: RefCounts, nrBlocks: number, locations: readonly number[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  const bytes = counts.bytes;
  for (let bi = 0; bi < locations.length; bi++) {
    const loc = locations[bi];
    const bm = newBitmap(loc);
    const first = bi * ENTRIES_PER_BITMAP;
    const last = Math.min(first + ENTRIES_PER_BITMAP, nrBlocks);
    let used = 0;
    let firstFree = -1;
    for (let b = first; b < last; b++) {
      const c = bytes[b];
      if (c === 0) {
        if (firstFree < 0) firstFree = b - first;
        continue;
      }
      used++;
      setBitmapEntry(bm, b - first, c >= OVERFLOW ? OVERFLOW : c);
    }
    if (firstFree < 0) firstFree = last - first;
    sealBitmap(bm);
    sink.write(loc, bm);
    // As the kernel does (sm_ll_extend), entries past the end count as free.
    entries.push({ blocknr: loc, nrFree: ENTRIES_PER_BITMAP - used, noneFreeBefore: firstFree });
  }
  return entries;
}

/** The ref-count tree: block -> count for every count of 3 or more. */
export function writeRefCountTree(sink: NodeSink, counts: RefCounts): number {
  const t = new BTreeBuilder(sink, 4);
  counts.forEachAtLeast(OVERFLOW, (b, c) => t.pushU32(b, c));
  return t.finish();
}

/** The data space map: bitmaps, their index B-tree, the ref-count tree. */
export function writeDataSpaceMap(sink: NodeSink, counts: RefCounts): SpaceMapRoot {
  const nrBlocks = counts.nrBlocks;
  const locations: number[] = [];
  for (let i = 0; i < nrBitmaps(nrBlocks); i++) locations.push(sink.allocate());
  const entries = writeBitmaps(sink, counts, nrBlocks, locations);
  const index = new BTreeBuilder(sink, INDEX_ENTRY_SIZE);
  entries.forEach((e, i) => {
    const [b, off] = index.push(i);
    writeIndexEntry(e, b, off);
  });
  const bitmapRoot = index.finish();
  const refCountRoot = writeRefCountTree(sink, counts);
  return { nrBlocks, nrAllocated: counts.countAllocated(), bitmapRoot, refCountRoot };
}

/**
 * The metadata space map. Its own blocks (index block, bitmaps, ref-count
 * tree) must appear in the counts it records: `sink.allocate` must count
 * every block it hands out into `counts`, and the bitmaps are written last,
 * once nothing more will be allocated.
 */
export function writeMetadataSpaceMap(sink: NodeSink, counts: RefCounts, nrBlocks: number): SpaceMapRoot {
  const indexLoc = sink.allocate();
  const locations: number[] = [];
  for (let i = 0; i < nrBitmaps(nrBlocks); i++) locations.push(sink.allocate());
  // Its own nodes count once each, which never adds an entry to it.
  const refCountRoot = writeRefCountTree(sink, counts);
  const entries = writeBitmaps(sink, counts, nrBlocks, locations);
  sink.write(indexLoc, writeMetadataIndex(entries, indexLoc));
  return { nrBlocks, nrAllocated: counts.countAllocated(), bitmapRoot: indexLoc, refCountRoot };
}
