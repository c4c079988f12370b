/**
 * CRC32C checksums of metadata blocks.
 *
 * Every metadata block stores at offset 0 a u32 over bytes [4, 4096).
 * The kernel (dm_bm_checksum) computes crc32c with seed ~0 and no final
 * inversion, then xors a per-kind salt; that equals
 * `standard_crc32c ^ 0xffffffff ^ salt`. The salt also tells a block's kind
 * when nothing else does (repair scans every block).
 */
import CRC32C from 'crc-32/crc32c.js';
import { getU32, setU32 } from './le.js';

const crc32c = CRC32C.buf;

export const BLOCK_SIZE = 4096;

/** Salts from the kernel: dm-thin-metadata.c, dm-btree.c, dm-space-map-common.c. */
export const Salt = {
  superblock: 160774,
  btreeNode: 121107,
  bitmap: 240779,
  index: 160478,
} as const;
export type BlockKind = keyof typeof Salt;

/** The checksum a block of `kind` must store. */
export function computeChecksum(block: Uint8Array, salt: number): number {
  return (crc32c(block.subarray(4, BLOCK_SIZE)) ^ 0xffffffff ^ salt) >>> 0;
}

export function storedChecksum(block: Uint8Array): number {
  return getU32(block, 0);
}

/** Writes the checksum into bytes [0, 4). */
export function stampChecksum(block: Uint8Array, salt: number): void {
  setU32(block, 0, computeChecksum(block, salt));
}

/** Which kind's salt makes the stored checksum valid, or undefined. */
export function classifyBlock(block: Uint8Array): BlockKind | undefined {
  const raw = (crc32c(block.subarray(4, BLOCK_SIZE)) ^ 0xffffffff) >>> 0;
  const stored = storedChecksum(block);
  for (const kind of Object.keys(Salt) as BlockKind[]) {
    if ((raw ^ Salt[kind]) >>> 0 === stored) return kind;
  }
  return undefined;
}
