/**
 * Little-endian integer access on byte arrays.
 *
 * u64 values are returned as JS numbers where they are block numbers and
 * counts (far below 2^53: a 16 GiB metadata device, 2^40 data blocks), and
 * as bigints where they are opaque 64-bit values an admin sets (transaction
 * ids: getU64Big). Values that pack two fields (block_time) are read as two
 * u32 halves instead, see block-time.ts.
 */
export function getU32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
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

/** A u64 in full, as a bigint. */
export function getU64Big(b: Uint8Array, off: number): bigint {
  return (BigInt(getU32(b, off + 4)) << 32n) | BigInt(getU32(b, off));
}

export function setU64Big(b: Uint8Array, off: number, v: bigint): void {
  setU32(b, off, Number(v & 0xffffffffn));
  setU32(b, off + 4, Number((v >> 32n) & 0xffffffffn));
}
