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
import { BLOCK_SIZE } from '../format/checksum.js';
import { OutOfRangeError } from '../format/errors.js';
import { type ByteSource, FileSource } from './byte-source.js';

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
  /** The input's size in bytes (a part block past the last whole one included). */
  readonly size: number;
  /** What is read, for messages: the path, or the source's name. */
  readonly path: string;
  private readonly source: ByteSource;
  private readonly chunkBlocks: number;
  private readonly maxChunks: number;
  // Map keeps insertion order: re-inserting on hit gives a cheap LRU.
  private readonly chunks = new Map<number, Uint8Array>();

  /** Reads a file or device by path, or any ByteSource (the reader closes it). */
  constructor(input: string | ByteSource, options: BlockReaderOptions = {}) {
    this.source = typeof input === 'string' ? new FileSource(input, options.what ?? 'metadata') : input;
    this.path = this.source.name;
    this.size = this.source.size;
    this.nrBlocks = Math.floor(this.size / BLOCK_SIZE);
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
    this.source.close();
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
    this.source.readAt(buf, first * BLOCK_SIZE);
    this.chunks.set(c, buf);
    return buf;
  }
}
