/**
 * thin_metadata_pack / thin_metadata_unpack files (format version 3).
 *
 * ```
 * header: u64 magic 0xa537a0aa6309ef77, u64 version 3, u64 block size 4096, u64 nr_blocks
 * then chunks: u64 compressed length, a zlib stream of
 *              { u64 block number, instructions that emit its 4096 bytes } ...
 * ```
 * Only blocks with a valid checksum of a known kind are packed; unpacking
 * leaves every other block zero. dmthin packs each block as one literal
 * (the format's simplest instruction; zlib does the compressing) and reads
 * every instruction thin_metadata_pack writes.
 */
import { ftruncateSync, readFileSync, writeSync } from 'node:fs';
import { lazyZlib } from '../builtins.js';
import { BLOCK_SIZE, classifyBlock } from '../format/checksum.js';
import { ArgumentError, UsageError } from '../errors.js';
import { BlockReader } from '../io/block-reader.js';
import { errnoWords, fileError, statInput } from '../io/files.js';
import { withOutput } from '../io/output-file.js';
import { writeFull } from '../io/full-io.js';
import { PackReader, PackVm, encodeLiteral } from './vm.js';

export const PACK_MAGIC = 0xa537a0aa6309ef77n;
export const PACK_VERSION = 3n;
const BLOCKS_PER_CHUNK = 1024;
/** 2^32 blocks (16 TiB): past any metadata device (the format addresses far less); a bigger count is damage. */
const MAX_PACKED_BLOCKS = 2 ** 32;

function u64le(v: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
}

export interface PackResult {
  nrBlocks: number;
  packedBlocks: number;
  bytes: number;
}

export function pack(input: string, output: string): PackResult {
  const reader = new BlockReader(input);
  try {
    return withOutput(output, { inputs: [input], binary: true, what: 'pack' }, (out) => packInto(reader, out.fd));
  } finally {
    reader.close();
  }
}

function packInto(reader: BlockReader, fd: number): PackResult {
  let bytes = 0;
  const put = (b: Uint8Array): void => {
    writeFull(fd, b, b.length, null);
    bytes += b.length;
  };
  put(u64le(PACK_MAGIC));
  put(u64le(PACK_VERSION));
  put(u64le(BLOCK_SIZE));
  put(u64le(reader.nrBlocks));
  let parts: Uint8Array[] = [];
  let inChunk = 0;
  let packed = 0;
  const flush = (): void => {
    if (inChunk === 0) return;
    const z = lazyZlib().deflateSync(Buffer.concat(parts));
    put(u64le(z.length));
    put(z);
    parts = [];
    inChunk = 0;
  };
  for (let b = 0; b < reader.nrBlocks; b++) {
    const block = reader.read(b);
    if (!classifyBlock(block)) continue;
    parts.push(u64le(b), encodeLiteral(block));
    packed++;
    if (++inChunk === BLOCKS_PER_CHUNK) flush();
  }
  flush();
  return { nrBlocks: reader.nrBlocks, packedBlocks: packed, bytes };
}

export function unpack(input: string, output: string): { nrBlocks: number; blocks: number } {
  statInput(input, 'pack file', { stream: true });
  let file: Uint8Array;
  try {
    file = readFileSync(input);
  } catch (e) {
    throw fileError('read pack file', input, e);
  }
  const size = file.length;
  if (size < 32) throw new UsageError(`${input} is not a pack file (too short)`);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (dv.getBigUint64(0, true) !== PACK_MAGIC) throw new UsageError(`${input} is not a pack file (bad magic)`);
  const version = dv.getBigUint64(8, true);
  if (version !== PACK_VERSION) throw new UsageError(`${input}: unsupported pack version ${version} (3 is known)`);
  if (dv.getBigUint64(16, true) !== BigInt(BLOCK_SIZE)) throw new UsageError(`${input}: block size is not ${BLOCK_SIZE}`);
  const declared = dv.getBigUint64(24, true);
  if (declared > BigInt(MAX_PACKED_BLOCKS)) {
    throw new UsageError(
      `${input}: the header declares ${declared} metadata blocks (${declared * 4n} KiB), more than any metadata device holds: a damaged pack`,
    );
  }
  const nrBlocks = Number(declared);
  return withOutput(output, { inputs: [input], binary: true, what: 'metadata' }, (out) => {
    if (!out.seekable) throw new ArgumentError(`unpack writes metadata blocks at their places: ${output} must be a file or block device, not a stream`);
    return unpackInto(input, file, nrBlocks, out.fd);
  });
}

function unpackInto(input: string, file: Uint8Array, nrBlocks: number, out: number): { nrBlocks: number; blocks: number } {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const size = file.length;
  let blocks = 0;
  try {
    ftruncateSync(out, nrBlocks * BLOCK_SIZE);
  } catch (e) {
    throw new UsageError(`cannot make the output ${nrBlocks * BLOCK_SIZE} bytes long: ${errnoWords(e)}`);
  }
  let p = 32;
  while (p < size) {
    if (p + 8 > size) throw new UsageError(`${input}: truncated chunk header at byte ${p}`);
    const len = Number(dv.getBigUint64(p, true));
    p += 8;
    if (p + len > size) throw new UsageError(`${input}: chunk at byte ${p - 8} runs past the end of the file`);
    let raw: Buffer;
    try {
      raw = lazyZlib().inflateSync(file.subarray(p, p + len));
    } catch (e) {
      throw new UsageError(`${input}: chunk at byte ${p - 8} does not decompress: ${(e as Error).message}`);
    }
    p += len;
    const r = new PackReader(raw);
    while (!r.done) {
      const b = Number(r.u64());
      if (b >= nrBlocks) throw new UsageError(`${input}: block ${b} is past the ${nrBlocks} blocks the header declares`);
      const block = new PackVm().exec(r, BLOCK_SIZE);
      writeSync(out, block, 0, BLOCK_SIZE, b * BLOCK_SIZE);
      blocks++;
    }
  }
  return { nrBlocks, blocks };
}
