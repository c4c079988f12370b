/**
 * Positional reads of 4 KiB metadata blocks from a file or block device.
 *
 * Reads go through a small cache of aligned chunks: metadata written by the
 * kernel or by restore is laid out mostly front to back, so one large
 * read serves many neighbouring blocks and keeps syscalls off the hot path.
 * The cache stays bounded (chunkBlocks * maxChunks * 4 KiB) whatever the
 * size of the metadata, and an evicted chunk's buffer is reused for the
 * next one (fresh buffers cost a quarter of ls at 10 M mappings: page
 * faults on new memory).
 *
 * Block lifetimes are safe by construction: no view of the cache ever
 * leaves this class. read() gives a private copy; readInto() copies into a
 * buffer the caller owns and reuses (the tree traversal keeps one a level).
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

  /** Block `b`, a private copy: the caller may keep it, change it, read on. */
  read(b: number): Uint8Array {
    return this.readInto(b, new Uint8Array(BLOCK_SIZE));
  }

  /**
   * Copies block `b` into `dst` (4 KiB, the caller's) and returns it: for
   * loops that read many blocks and keep each only until the next.
   */
  readInto(b: number, dst: Uint8Array): Uint8Array {
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
    dst.set(chunk.subarray(off, off + BLOCK_SIZE));
    return dst;
  }

  close(): void {
    this.chunks.clear();
    closeSync(this.fd);
  }

  private loadChunk(c: number): Uint8Array {
    const first = c * this.chunkBlocks;
    const count = Math.min(this.chunkBlocks, this.nrBlocks - first);
    // Nothing outside this class sees a chunk, so the evicted one's buffer is free to reuse.
    let buf: Uint8Array | undefined;
    if (this.chunks.size >= this.maxChunks) {
      const oldest = this.chunks.keys().next().value as number;
      buf = this.chunks.get(oldest);
      this.chunks.delete(oldest);
    }
    if (buf?.length !== count * BLOCK_SIZE) buf = new Uint8Array(count * BLOCK_SIZE);
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
