/**
 * Metadata written in place (restore and repair overwrite an existing file
 * or device whose size is the metadata's size; a loop device may stand on
 * the file, so it cannot be replaced by a rename). Nothing reaches the
 * target until the whole input has been read and checked: blocks go to an
 * unlinked staging file first (it vanishes however the process ends), and
 * only commit() copies them over, in the order that keeps an interrupted
 * copy from looking valid: block 0 zeroed and synced, every other block
 * copied and synced, the superblock last.
 */
import { closeSync, fstatSync, fsyncSync, openSync, type Stats, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BLOCK_SIZE } from '../format/checksum.js';
import { UsageError } from '../errors.js';
import { probeDeviceSize } from './byte-source.js';
import { BlockWriter } from './block-writer.js';
import { errnoWords, kindOf, refuseInputAsOutput } from './files.js';
import { readFull, writeFull } from './full-io.js';
import { refuseIfHeld } from './held.js';

const COPY_BLOCKS = 256;

export class StagedBlocks {
  private readonly stage: BlockWriter;
  /** One byte per target block: 1 once the block has been staged. */
  private readonly written: Uint8Array;
  private finished = false;

  private constructor(
    readonly target: string,
    /** Whole 4 KiB blocks the target holds. */
    readonly targetBlocks: number,
    stagePath: string,
  ) {
    this.stage = new BlockWriter(stagePath, 256, true);
    // Unlinked at once: the staging file lives only as long as this process holds it.
    unlinkSync(stagePath);
    this.written = new Uint8Array(targetBlocks);
  }

  /**
   * Checks that `target` can take metadata (exists, a regular file or an
   * unused block device, not an input, at least `minBlocks` blocks) and
   * opens a staging file for it. Nothing is written to the target.
   */
  static open(target: string, inputs: readonly string[], minBlocks = 4, sizeHint?: number): StagedBlocks {
    let st: Stats;
    try {
      st = statSync(target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new UsageError(
          `${target} does not exist: create it with the metadata size first (${sizeHint ? `the input's: truncate -s ${sizeHint}` : 'e.g. truncate -s 16M'} ${target})`,
        );
      }
      throw new UsageError(`cannot write ${target}: ${errnoWords(e)}`);
    }
    if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`${target} is ${kindOf(st)}: metadata goes to a regular file or a block device`);
    refuseInputAsOutput(target, inputs);
    refuseIfHeld(
      target,
      'metadata',
      'dmthin writes only metadata nothing uses. Deactivate the pool first; to read a live pool use `dmsetup message POOL 0 reserve_metadata_snap` and `dmthin dump -m`',
    );
    // Fail now, not after the whole input has been read, if the target cannot be written.
    let size: number;
    try {
      const fd = openSync(target, 'r+');
      try {
        size = st.isBlockDevice() ? probeDeviceSize(fd) : fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      throw new UsageError(`cannot write ${target}: ${errnoWords(e)}`);
    }
    const blocks = Math.floor(size / BLOCK_SIZE);
    if (blocks < minBlocks) {
      throw new UsageError(`${target} is too small (${size} bytes): metadata needs at least ${(minBlocks * BLOCK_SIZE) >> 10} KiB`);
    }
    // Beside a file (same file system, room like the target's); else, or when that directory is read-only, in $TMPDIR.
    const dirs = st.isFile() ? [dirname(target), tmpdir()] : [tmpdir()];
    let last: unknown;
    for (const dir of dirs) {
      try {
        return new StagedBlocks(target, blocks, join(dir, `.dmthin-stage-${process.pid}-${Date.now().toString(36)}`));
      } catch (e) {
        last = e;
      }
    }
    throw new UsageError(`cannot stage the output of ${target} in ${dirs.join(' or ')}: ${errnoWords(last)}`);
  }

  write(b: number, data: Uint8Array): void {
    this.written[b] = 1;
    this.stage.write(b, data);
  }

  /** Staged blocks need no sync: durability is commit()'s business. */
  sync(): void {}

  /** Copies every staged block onto the target, superblock last, syncing between. */
  commit(): void {
    if (this.finished) throw new Error('StagedBlocks committed twice');
    this.stage.flush();
    let fd: number;
    try {
      fd = openSync(this.target, 'r+');
    } catch (e) {
      throw new UsageError(`cannot write ${this.target}: ${errnoWords(e)}; it was left as it was`);
    }
    const buf = new Uint8Array(COPY_BLOCKS * BLOCK_SIZE);
    try {
      writeFull(fd, new Uint8Array(BLOCK_SIZE), BLOCK_SIZE, 0);
      fsyncSync(fd);
      const n = this.targetBlocks;
      for (let b = 1; b < n; ) {
        if (this.written[b] === 0) {
          b++;
          continue;
        }
        let e = b;
        while (e < n && e - b < COPY_BLOCKS && this.written[e] === 1) e++;
        const len = (e - b) * BLOCK_SIZE;
        if (!readFull(this.stage.fd, buf, len, b * BLOCK_SIZE)) throw new Error(`the staging file ends before block ${b}`);
        writeFull(fd, buf, len, b * BLOCK_SIZE);
        b = e;
      }
      fsyncSync(fd);
      if (this.written[0] === 1) {
        if (!readFull(this.stage.fd, buf, BLOCK_SIZE, 0)) throw new Error('the staging file ends before block 0');
        writeFull(fd, buf, BLOCK_SIZE, 0);
        fsyncSync(fd);
      }
    } catch (e) {
      throw new UsageError(`writing ${this.target} failed: ${errnoWords(e)}; its superblock is cleared, so nothing will use the partial metadata`);
    } finally {
      closeSync(fd);
      this.close();
    }
  }

  /** Releases the staging file; the target is untouched unless commit() ran. */
  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.stage.close();
  }
}
