/**
 * Little-endian integer access on byte arrays.
 *
 * u64 values are returned as JS numbers: every u64 in dm-thin metadata that
 * is read as one integer (block numbers, counts, transaction ids) stays far
 * below 2^53 in practice. Values that pack two fields (block_time) are read
 * as two u32 halves instead, see block-time.ts.
 */
export function getU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

const TWO32 = 0x1_0000_0000;

export function getU64(b: Uint8Array, off: number): number {
  return getU32(b, off) + getU32(b, off + 4) * TWO32;
}

export function setU64(b: Uint8Array, off: number, v: number): void {
  setU32(b, off, v >>> 0);
  setU32(b, off + 4, Math.floor(v / TWO32) >>> 0);
}
