/**
 * block_time: the value of a bottom-level mapping entry, a u64 packing
 * `data_block << 24 | time` (dm-thin-metadata.c pack_block_time). It is
 * handled as two u32 halves so that 40-bit block numbers never pass through
 * a float or a BigInt.
 */
import { getU32, setU32 } from './le.js';

export const TIME_MASK = 0xffffff;
export const MAX_TIME = TIME_MASK;
/** The data block field is 40 bits. */
export const MAX_DATA_BLOCK = 2 ** 40 - 1;

export function blockOf(b: Uint8Array, off: number): number {
  return getU32(b, off + 4) * 256 + (getU32(b, off) >>> 24);
}

export function timeOf(b: Uint8Array, off: number): number {
  return getU32(b, off) & TIME_MASK;
}

export function writeBlockTime(out: Uint8Array, off: number, block: number, time: number): void {
  const lowByte = block % 256;
  setU32(out, off, ((lowByte << 24) | (time & TIME_MASK)) >>> 0);
  setU32(out, off + 4, Math.floor(block / 256) >>> 0);
}
