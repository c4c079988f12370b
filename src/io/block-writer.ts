/**
 * Writes metadata blocks to a file or block device.
 *
 * Restore writes everything but the superblock first, syncs, and only then
 * writes block 0: a crash mid-way leaves a file whose superblock is not
 * valid, never one that looks valid but is half written.
 */
import { closeSync, fsyncSync, openSync, writeSync, fstatSync } from 'node:fs';
import { BLOCK_SIZE } from '../format/checksum.js';
import { UsageError } from '../errors.js';
import { errnoWords } from './files.js';

export class BlockWriter {
  readonly fd: number;
  // Pending run of consecutive blocks, flushed with one write.
  private run: Uint8Array;
  private runStart = -1;
  private runLen = 0;

  constructor(
    readonly path: string,
    runBlocks = 256,
    /** Create a new file (a staging file) instead of opening an existing one. */
    create = false,
    /** Write through this descriptor, already open read-write, instead (close() then leaves it open: its opener closes it). */
    private readonly borrowedFd?: number,
  ) {
    if (borrowedFd !== undefined) {
      this.fd = borrowedFd;
      this.run = new Uint8Array(runBlocks * BLOCK_SIZE);
      return;
    }
    try {
      // r+ on an existing file or device keeps its size (its size is the metadata's size).
      this.fd = openSync(path, create ? 'wx+' : 'r+', 0o600);
    } catch (e) {
      throw new UsageError(`cannot write ${path}: ${errnoWords(e)}`);
    }
    this.run = new Uint8Array(runBlocks * BLOCK_SIZE);
  }

  isBlockDevice(): boolean {
    return fstatSync(this.fd).isBlockDevice();
  }

  /** Queues block `b`; consecutive blocks are coalesced into one write. */
  write(b: number, data: Uint8Array): void {
    if (this.runLen > 0 && (b !== this.runStart + this.runLen || this.runLen * BLOCK_SIZE >= this.run.length)) {
      this.flush();
    }
    if (this.runLen === 0) this.runStart = b;
    this.run.set(data.subarray(0, BLOCK_SIZE), this.runLen * BLOCK_SIZE);
    this.runLen++;
  }

  flush(): void {
    if (this.runLen === 0) return;
    const bytes = this.runLen * BLOCK_SIZE;
    let done = 0;
    while (done < bytes) {
      done += writeSync(this.fd, this.run, done, bytes - done, this.runStart * BLOCK_SIZE + done);
    }
    this.runLen = 0;
  }

  sync(): void {
    this.flush();
    fsyncSync(this.fd);
  }

  close(): void {
    this.flush();
    if (this.borrowedFd === undefined) closeSync(this.fd);
  }
}
