/**
 * ext4's metadata checksums: the kernel's crc32c_le(seed, bytes), with no
 * inversion at either end, chained from a per-filesystem seed (crc32c of
 * the UUID, or s_checksum_seed) through the inode number and generation.
 */
import CRC32C from 'crc-32/crc32c.js';

/** crc32c_le as the kernel computes it: `crc` in, no final inversion. */
export function crc32cRaw(crc: number, bytes: Uint8Array): number {
  // crc-32's buf(data, seed) inverts the seed on entry and the result on exit.
  return ~CRC32C.buf(bytes, ~crc) >>> 0;
}

export function u32le(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}
