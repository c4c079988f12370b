/**
 * Space-map bitmap block (dm-space-map-common.c, struct disk_bitmap_header).
 * ```
 *  0 u32 csum      over [4, 4096), salt 240779
 *  4 u32 not_used
 *  8 u64 blocknr   its own location
 * 16     2 bits per block: 16320 entries
 * ```
 * Entry i lives in little-endian 64-bit word i/32; within it bit 2*(i%32)
 * is the HIGH bit of the count and bit 2*(i%32)+1 the LOW bit
 * (sm_lookup_bitmap uses test_bit_le(b) for hi and b+1 for lo). So in byte
 * terms entry i is in byte 16 + i/4, bits 2*(i%4) (hi) and 2*(i%4)+1 (lo).
 * Values 0..2 are the count; 3 means "see the ref-count tree".
 */
import { BLOCK_SIZE, Salt, computeChecksum, stampChecksum, storedChecksum } from './checksum.js';
import { BlockNumberError, ChecksumError } from './errors.js';
import { getU64, setU64 } from './le.js';

export const BITMAP_HEADER_SIZE = 16;
export const ENTRIES_PER_BITMAP = (BLOCK_SIZE - BITMAP_HEADER_SIZE) * 4; // 16320
/** Stored for counts of 3 and more. */
export const OVERFLOW = 3;

/** Bitmap blocks a space map of `nrBlocks` blocks needs. */
export function nrBitmaps(nrBlocks: number): number {
  return Math.ceil(nrBlocks / ENTRIES_PER_BITMAP);
}

export function bitmapEntry(b: Uint8Array, i: number): number {
  const byte = b[BITMAP_HEADER_SIZE + (i >>> 2)];
  const shift = (i & 3) << 1;
  const hi = (byte >>> shift) & 1;
  const lo = (byte >>> (shift + 1)) & 1;
  return (hi << 1) | lo;
}

export function setBitmapEntry(b: Uint8Array, i: number, v: number): void {
  const at = BITMAP_HEADER_SIZE + (i >>> 2);
  const shift = (i & 3) << 1;
  const bits = ((v >>> 1) & 1) | ((v & 1) << 1);
  b[at] = (b[at] & ~(3 << shift)) | (bits << shift);
}

export function validateBitmap(b: Uint8Array, location: number): void {
  const expected = computeChecksum(b, Salt.bitmap);
  const stored = storedChecksum(b);
  if (expected !== stored) throw new ChecksumError(location, 'bitmap', expected, stored);
  const blocknr = getU64(b, 8);
  if (blocknr !== location) throw new BlockNumberError(location, 'bitmap', blocknr);
}

/** A fresh bitmap block for `location`; set entries, then sealBitmap. */
export function newBitmap(location: number): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  setU64(b, 8, location);
  return b;
}

export function sealBitmap(b: Uint8Array): void {
  stampChecksum(b, Salt.bitmap);
}
