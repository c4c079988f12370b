/**
 * The framing of a thin_metadata_pack file (format version 3): a header,
 * then chunks, each a length and a zlib stream of packed blocks (vm.ts
 * decodes what is inside). Every field is a little-endian u64, read and
 * written through format/le.ts as every other codec of dmthin's; this
 * file is the only one that reads or writes them.
 *
 * Header, 32 bytes:
 * ```
 * offset size field
 *      0    8 magic 0xa537a0aa6309ef77
 *      8    8 version: 3
 *     16    8 block size, bytes: 4096 (a metadata block)
 *     24    8 blocks: the metadata device's size in blocks; unpack makes it that long
 * ```
 * Chunk, from byte 32 on until the file ends:
 * ```
 * offset size field
 *      0    8 length: bytes of the zlib stream that follows
 *      8  length a zlib stream of { u64 block number, instructions that emit its 4096 bytes } ...
 * ```
 */
import { BLOCK_SIZE } from '../format/checksum.js';
import { getU64, getU64Big, setU64Big } from '../format/le.js';
import { UsageError } from '../errors.js';

export const PACK_MAGIC = 0xa537a0aa6309ef77n;
export const PACK_VERSION = 3n;
export const PACK_HEADER_SIZE = 32;
export const CHUNK_HEADER_SIZE = 8;
/** 2^32 blocks (16 TiB): past any metadata device (the format addresses far less); a bigger count is damage. */
export const MAX_PACKED_BLOCKS = 2 ** 32;

export function writePackHeader(nrBlocks: number): Uint8Array {
  const b = new Uint8Array(PACK_HEADER_SIZE);
  setU64Big(b, 0, PACK_MAGIC);
  setU64Big(b, 8, PACK_VERSION);
  setU64Big(b, 16, BigInt(BLOCK_SIZE));
  setU64Big(b, 24, BigInt(nrBlocks));
  return b;
}

/**
 * The number of blocks the header at the start of `file` declares, every
 * field checked; `input` names the file in the messages.
 */
export function parsePackHeader(file: Uint8Array, input: string): number {
  if (file.length < PACK_HEADER_SIZE) throw new UsageError(`${input} is not a pack file (too short)`);
  if (getU64Big(file, 0) !== PACK_MAGIC) throw new UsageError(`${input} is not a pack file (bad magic)`);
  const version = getU64Big(file, 8);
  if (version !== PACK_VERSION) throw new UsageError(`${input}: unsupported pack version ${version} (3 is known)`);
  if (getU64Big(file, 16) !== BigInt(BLOCK_SIZE)) throw new UsageError(`${input}: block size is not ${BLOCK_SIZE}`);
  const declared = getU64Big(file, 24);
  if (declared > BigInt(MAX_PACKED_BLOCKS)) {
    throw new UsageError(
      `${input}: the header declares ${declared} metadata blocks (${declared * 4n} KiB), more than any metadata device holds: a damaged pack`,
    );
  }
  return Number(declared);
}

/** A u64 of a pack: a chunk's length, or a block number inside a chunk. */
export function packU64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  setU64Big(b, 0, BigInt(v));
  return b;
}

/**
 * The length of the zlib stream in the chunk at byte `at` of `file`,
 * checked to end inside the file; `input` names the file in the messages.
 */
export function parseChunkHeader(file: Uint8Array, at: number, input: string): number {
  if (at + CHUNK_HEADER_SIZE > file.length) throw new UsageError(`${input}: truncated chunk header at byte ${at}`);
  const len = getU64(file, at);
  if (at + CHUNK_HEADER_SIZE + len > file.length) throw new UsageError(`${input}: chunk at byte ${at} runs past the end of the file`);
  return len;
}
