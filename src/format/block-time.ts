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

/** The data block from the value's low and high u32 halves. */
export function blockOfHalves(low: number, high: number): number {
  return high * 256 + (low >>> 24);
}

/** The time from the value's low u32 half. */
export function timeOfLow(low: number): number {
  return low & TIME_MASK;
}

export function blockOf(b: Uint8Array, off: number): number {
  return blockOfHalves(getU32(b, off), getU32(b, off + 4));
}

export function timeOf(b: Uint8Array, off: number): number {
  return timeOfLow(getU32(b, off));
}

/** The value's low u32 half: the data block's low byte above the time. */
export function lowHalf(block: number, time: number): number {
  return (((block % 256) << 24) | (time & TIME_MASK)) >>> 0;
}

/** The value's high u32 half: the data block's upper 32 bits. */
export function highHalf(block: number): number {
  return Math.floor(block / 256) >>> 0;
}

export function writeBlockTime(out: Uint8Array, off: number, block: number, time: number): void {
  setU32(out, off, lowHalf(block, time));
  setU32(out, off + 4, highHalf(block));
}
