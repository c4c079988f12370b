/**
 * Space-map index entries and the metadata space map's index block
 * (dm-space-map-common.h).
 *
 * Index entry, 16 bytes, one per bitmap block:
 * ```
 *  0 u64 blocknr            the bitmap block
 *  8 u32 nr_free            free entries in that bitmap
 * 12 u32 none_free_before   a search hint: no free entry before this one
 * ```
 * Metadata index block (struct disk_metadata_index): the metadata space
 * map has no index B-tree (it would need the map to allocate its own
 * nodes), only this one block:
 * ```
 *  0 u32 csum     over [4, 4096), salt 160478
 *  4 u32 padding
 *  8 u64 blocknr  its own location
 * 16     index entries, up to 255
 * ```
 */
import { BLOCK_SIZE, Salt, computeChecksum, stampChecksum, storedChecksum } from './checksum.js';
import { BlockNumberError, ChecksumError } from './errors.js';
import { getU32, getU64, setU32, setU64 } from './le.js';
import { ENTRIES_PER_BITMAP } from './bitmap.js';

export const INDEX_ENTRY_SIZE = 16;
export const MAX_METADATA_BITMAPS = 255;
/** The most metadata blocks one index block can describe (~15.9 GiB). */
export const MAX_METADATA_BLOCKS = MAX_METADATA_BITMAPS * ENTRIES_PER_BITMAP;

export interface IndexEntry {
  blocknr: number;
  nrFree: number;
  noneFreeBefore: number;
}

export function parseIndexEntry(b: Uint8Array, off = 0): IndexEntry {
  return { blocknr: getU64(b, off), nrFree: getU32(b, off + 8), noneFreeBefore: getU32(b, off + 12) };
}

export function writeIndexEntry(e: IndexEntry, out: Uint8Array, off = 0): void {
  setU64(out, off, e.blocknr);
  setU32(out, off + 8, e.nrFree);
  setU32(out, off + 12, e.noneFreeBefore);
}

/** Validates the metadata index block at `location` and returns its first `count` entries. */
export function parseMetadataIndex(b: Uint8Array, location: number, count: number): IndexEntry[] {
  const expected = computeChecksum(b, Salt.index);
  const stored = storedChecksum(b);
  if (expected !== stored) throw new ChecksumError(location, 'metadata index', expected, stored);
  const blocknr = getU64(b, 8);
  if (blocknr !== location) throw new BlockNumberError(location, 'metadata index', blocknr);
  const n = Math.min(count, MAX_METADATA_BITMAPS);
  const out: IndexEntry[] = [];
  for (let i = 0; i < n; i++) out.push(parseIndexEntry(b, 16 + INDEX_ENTRY_SIZE * i));
  return out;
}

export function writeMetadataIndex(entries: readonly IndexEntry[], location: number): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  setU64(b, 8, location);
  for (let i = 0; i < entries.length; i++) writeIndexEntry(entries[i], b, 16 + INDEX_ENTRY_SIZE * i);
  stampChecksum(b, Salt.index);
  return b;
}
