/**
 * The two changes thin_check itself may make (1.x): clear the superblock's
 * NEEDS_CHECK flag after a clean check, and give back leaked blocks
 * (--auto-repair: blocks a space map counts once that nothing uses).
 * Nothing else is ever written. Bitmaps and index entries are rewritten
 * first, synced, and the superblock last. Both work on the check's own
 * session (session.ts) and on the superblock that check validated.
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { BlockWriter } from '../../io/block-writer.js';
import { ENTRIES_PER_BITMAP, bitmapEntry, sealBitmap, setBitmapEntry } from '../../format/bitmap.js';
import { type IndexEntry, writeIndexEntry, writeMetadataIndex } from '../../format/index-entry.js';
import { BTreeNode, sealNode } from '../../format/btree-node.js';
import { UsageError } from '../../errors.js';
import { NEEDS_CHECK_FLAG, type Superblock, writeSuperblock } from '../../format/superblock.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { readIndex } from '../../pdata/space-map/reader.js';
import type { CheckSession } from './session.js';

/** Clears NEEDS_CHECK in `sb` (the superblock as the session's last check read it); false when it was not set. */
export function clearNeedsCheck(session: CheckSession, sb: Superblock): boolean {
  session.mayWrite();
  if ((sb.flags & NEEDS_CHECK_FLAG) === 0) return false;
  const w = session.writer();
  try {
    w.write(0, writeSuperblock({ ...sb, flags: sb.flags & ~NEEDS_CHECK_FLAG }));
    w.sync();
  } finally {
    w.close();
  }
  return true;
}

/** Frees `blocks` in one bitmap and returns its updated index entry. */
function freeInBitmap(reader: BlockReader, w: BlockWriter, e: IndexEntry, firstBlock: number, blocks: number[]): IndexEntry {
  const bm = reader.read(e.blocknr);
  for (const b of blocks) if (bitmapEntry(bm, b - firstBlock) === 1) setBitmapEntry(bm, b - firstBlock, 0);
  let free = 0;
  let firstFree = -1;
  for (let i = 0; i < ENTRIES_PER_BITMAP; i++) {
    if (bitmapEntry(bm, i) === 0) {
      free++;
      if (firstFree < 0) firstFree = i;
    }
  }
  sealBitmap(bm);
  w.write(e.blocknr, bm);
  return { blocknr: e.blocknr, nrFree: free, noneFreeBefore: firstFree < 0 ? ENTRIES_PER_BITMAP : firstFree };
}

function byBitmap(blocks: number[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const b of blocks) {
    const bi = Math.floor(b / ENTRIES_PER_BITMAP);
    m.set(bi, [...(m.get(bi) ?? []), b]);
  }
  return m;
}

/**
 * Gives back `leaks` through the session's writer; `reader` and `sb` are
 * the check's that found them (nothing it read has been written since).
 */
export function repairLeaks(
  session: CheckSession,
  reader: BlockReader,
  sb: Superblock,
  leaks: { data: number[]; metadata: number[] },
): { data: number; metadata: number } {
  session.mayWrite();
  if (leaks.data.length === 0 && leaks.metadata.length === 0) return { data: 0, metadata: 0 };
  const w: BlockWriter = session.writer();
  try {
    const walk = new BTreeTraversal(reader);
    // Data space map: index entries live in the leaves of its index tree.
    const dataBitmaps = byBitmap(leaks.data);
    if (dataBitmaps.size > 0) {
      const index = readIndex(reader, 'data', sb.dataSpaceMapRoot, walk);
      const leaves = new Map<number, Uint8Array>();
      for (const [bi, blocks] of dataBitmaps) {
        const at = index.slots[bi];
        const entry = index.entries[bi];
        if (!at || !entry) throw new UsageError(`data space map has no index entry for bitmap ${bi}`);
        const leaf = leaves.get(at.leaf) ?? reader.read(at.leaf);
        leaves.set(at.leaf, leaf);
        const off = new BTreeNode(leaf, at.leaf).valueOffset(at.slot);
        writeIndexEntry(freeInBitmap(reader, w, entry, bi * ENTRIES_PER_BITMAP, blocks), leaf, off);
      }
      for (const [loc, leaf] of leaves) {
        sealNode(leaf);
        w.write(loc, leaf);
      }
    }
    // Metadata space map: one index block.
    const metaBitmaps = byBitmap(leaks.metadata);
    if (metaBitmaps.size > 0) {
      const root = sb.metadataSpaceMapRoot;
      const entries = readIndex(reader, 'metadata', root, walk).entries as IndexEntry[];
      for (const [bi, blocks] of metaBitmaps) entries[bi] = freeInBitmap(reader, w, entries[bi], bi * ENTRIES_PER_BITMAP, blocks);
      w.write(root.bitmapRoot, writeMetadataIndex(entries, root.bitmapRoot));
    }
    w.sync();
    w.write(
      0,
      writeSuperblock({
        ...sb,
        dataSpaceMapRoot: { ...sb.dataSpaceMapRoot, nrAllocated: Math.max(0, sb.dataSpaceMapRoot.nrAllocated - leaks.data.length) },
        metadataSpaceMapRoot: { ...sb.metadataSpaceMapRoot, nrAllocated: Math.max(0, sb.metadataSpaceMapRoot.nrAllocated - leaks.metadata.length) },
      }),
    );
    w.sync();
    return { data: leaks.data.length, metadata: leaks.metadata.length };
  } finally {
    w.close();
  }
}
