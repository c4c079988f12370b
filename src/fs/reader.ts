/**
 * Reads of a filesystem's bytes, bounded by the device and counted: the
 * diff reports how much of the device it had to read, and every offset a
 * structure names is checked against the device's size before the read.
 */
import type { ByteSource } from '../io/byte-source.js';
import { FsError } from './errors.js';

export class FsReader {
  /** Bytes read through this reader so far. */
  bytesRead = 0;
  private readonly cache = new Map<number, Uint8Array>();

  constructor(
    readonly source: ByteSource,
    /** Entries of the block cache, so that a walk does not read a block twice. */
    private readonly cacheLimit = 4096,
  ) {}

  get name(): string {
    return this.source.name;
  }

  get size(): number {
    return this.source.size;
  }

  /** `length` bytes at `offset`; `what` names the structure in the error when they lie past the device's end. */
  read(offset: number, length: number, what: string): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.source.size) {
      throw new FsError(this.name, offset, what, `${length} bytes at byte ${offset} lie outside the device (${this.source.size} bytes)`);
    }
    const buf = new Uint8Array(length);
    this.source.readAt(buf, offset);
    this.bytesRead += length;
    return buf;
  }

  /** Block `block` of `blockSize` bytes, cached. */
  block(block: number, blockSize: number, what: string): Uint8Array {
    const key = block * blockSize;
    const hit = this.cache.get(key);
    if (hit && hit.length === blockSize) return hit;
    const b = this.read(key, blockSize, `${what} (block ${block})`);
    if (this.cache.size >= this.cacheLimit) this.cache.clear();
    this.cache.set(key, b);
    return b;
  }
}
