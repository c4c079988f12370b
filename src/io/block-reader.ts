/**
 * Positional reads of 4 KiB metadata blocks from a file or block device.
 *
 * Reads go through a small cache of aligned chunks: metadata written by the
 * kernel or by restore is laid out mostly front to back, so one large
 * read serves many neighbouring blocks and keeps syscalls off the hot path.
 * The cache stays bounded (chunkBlocks * maxChunks * 4 KiB) whatever the
 * size of the metadata; a chunk it evicts lives on only while a caller
 * still holds a view into it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BLOCK_SIZE } from '../format/checksum.js';
import { OutOfRangeError } from '../format/errors.js';
import { UsageError } from '../errors.js';
import { errnoWords, statInput } from './files.js';

export interface BlockReaderOptions {
  /** Blocks per cached chunk (default 64 = 256 KiB). */
  chunkBlocks?: number;
  /** Chunks kept (default 16 = 4 MiB with the default chunk size). */
  maxChunks?: number;
  /** What the file is, for messages (default "metadata"). */
  what?: string;
}

export class BlockReader {
  /**
   * The cache every reader gets unless told otherwise. Tests shrink it to
   * one block so that every read evicts: a reader that kept using a view
   * of an evicted chunk would then see it change at once.
   */
  static defaults: Required<Pick<BlockReaderOptions, 'chunkBlocks' | 'maxChunks'>> = { chunkBlocks: 64, maxChunks: 16 };

  readonly nrBlocks: number;
  private readonly fd: number;
  private readonly chunkBlocks: number;
  private readonly maxChunks: number;
  // Map keeps insertion order: re-inserting on hit gives a cheap LRU.
  private readonly chunks = new Map<number, Uint8Array>();

  constructor(
    readonly path: string,
    options: BlockReaderOptions = {},
  ) {
    // Checked before the open: opening a FIFO would wait for a writer forever.
    statInput(path, options.what ?? 'metadata');
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new UsageError(`cannot read ${options.what ?? 'metadata'} ${path}: ${errnoWords(e)}`);
    }
    const st = fstatSync(this.fd);
    let size = st.size;
    if (st.isBlockDevice()) size = probeDeviceSize(this.fd);
    this.nrBlocks = Math.floor(size / BLOCK_SIZE);
    this.chunkBlocks = options.chunkBlocks ?? BlockReader.defaults.chunkBlocks;
    this.maxChunks = options.maxChunks ?? BlockReader.defaults.maxChunks;
  }

  /**
   * Returns block `b`, a view into the cache. Views never change, however
   * many blocks are read after them (a cache chunk is never reused), so a
   * caller may hold one block while reading others. Copy (readCopy) only to
   * modify a block.
   */
  read(b: number): Uint8Array {
    if (!(b >= 0 && b < this.nrBlocks) || !Number.isInteger(b)) {
      throw new OutOfRangeError(b, this.nrBlocks, `block ${b}`);
    }
    const c = Math.floor(b / this.chunkBlocks);
    let chunk = this.chunks.get(c);
    if (chunk) {
      this.chunks.delete(c);
      this.chunks.set(c, chunk);
    } else {
      chunk = this.loadChunk(c);
    }
    const off = (b - c * this.chunkBlocks) * BLOCK_SIZE;
    return chunk.subarray(off, off + BLOCK_SIZE);
  }

  /** A private copy of block `b`. */
  readCopy(b: number): Uint8Array {
    return this.read(b).slice();
  }

  close(): void {
    this.chunks.clear();
    closeSync(this.fd);
  }

  private loadChunk(c: number): Uint8Array {
    const first = c * this.chunkBlocks;
    const count = Math.min(this.chunkBlocks, this.nrBlocks - first);
    if (this.chunks.size >= this.maxChunks) this.chunks.delete(this.chunks.keys().next().value as number);
    // Always a fresh buffer, never an evicted one: views handed out of the
    // evicted chunk must keep their bytes (the evicted buffer lives on only
    // as long as such a view does).
    const buf = new Uint8Array(count * BLOCK_SIZE);
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, first * BLOCK_SIZE + done);
      if (n === 0) {
        buf.fill(0, done);
        break;
      }
      done += n;
    }
    this.chunks.set(c, buf);
    return buf;
  }
}

/** Size of a block device: the last offset at which a read still returns data. */
export function probeDeviceSize(fd: number): number {
  const probe = new Uint8Array(1);
  let lo = 0;
  let hi = 1;
  while (readSync(fd, probe, 0, 1, hi * BLOCK_SIZE) === 1) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (readSync(fd, probe, 0, 1, mid * BLOCK_SIZE) === 1) lo = mid;
    else hi = mid;
  }
  return (lo + 1) * BLOCK_SIZE;
}
