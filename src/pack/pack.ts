/**
 * thin_metadata_pack / thin_metadata_unpack files (format version 3; the
 * header and chunk framing in format.ts, the block instructions in vm.ts).
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
import type { ByteSource } from '../io/byte-source.js';
import { errnoWords, fileError, statInput } from '../io/files.js';
import { withOutput } from '../io/output-file.js';
import { writeFull } from '../io/full-io.js';
import { CHUNK_HEADER_SIZE, PACK_HEADER_SIZE, packU64, parseChunkHeader, parsePackHeader, writePackHeader } from './format.js';
import { PackReader, PackVm, encodeLiteral } from './vm.js';

const BLOCKS_PER_CHUNK = 1024;

export interface PackResult {
  nrBlocks: number;
  packedBlocks: number;
  bytes: number;
}

/** Packs metadata from a path or any ByteSource (an LV inside disk images); `inputs` are the files the output may not be. */
export function pack(input: string | ByteSource, output: string, inputs: readonly string[] = typeof input === 'string' ? [input] : []): PackResult {
  const reader = new BlockReader(input);
  try {
    return withOutput(output, { inputs, binary: true, what: 'pack' }, (out) => packInto(reader, out.fd));
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
  put(writePackHeader(reader.nrBlocks));
  let parts: Uint8Array[] = [];
  let inChunk = 0;
  let packed = 0;
  const flush = (): void => {
    if (inChunk === 0) return;
    const z = lazyZlib().deflateSync(Buffer.concat(parts));
    put(packU64(z.length));
    put(z);
    parts = [];
    inChunk = 0;
  };
  for (let b = 0; b < reader.nrBlocks; b++) {
    const block = reader.read(b);
    if (!classifyBlock(block)) continue;
    parts.push(packU64(b), encodeLiteral(block));
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
  const nrBlocks = parsePackHeader(file, input);
  return withOutput(output, { inputs: [input], binary: true, what: 'metadata' }, (out) => {
    if (!out.seekable) throw new ArgumentError(`unpack writes metadata blocks at their places: ${output} must be a file or block device, not a stream`);
    return unpackInto(input, file, nrBlocks, out.fd);
  });
}

function unpackInto(input: string, file: Uint8Array, nrBlocks: number, out: number): { nrBlocks: number; blocks: number } {
  const size = file.length;
  let blocks = 0;
  try {
    ftruncateSync(out, nrBlocks * BLOCK_SIZE);
  } catch (e) {
    throw new UsageError(`cannot make the output ${nrBlocks * BLOCK_SIZE} bytes long: ${errnoWords(e)}`);
  }
  let p = PACK_HEADER_SIZE;
  while (p < size) {
    const len = parseChunkHeader(file, p, input);
    p += CHUNK_HEADER_SIZE;
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
