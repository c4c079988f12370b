/**
 * Where a BlockReader's bytes come from: a file or block device, or
 * anything else that can fill a buffer from a byte position (an LV's
 * extents inside PV images: lvm/lv-source.ts). Reads past the end give
 * zeros, as a short file's tail does.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { errnoWords, statInput } from './files.js';
import { readUpTo, readUpToAsync } from './full-io.js';

export interface ByteSource {
  /** What to call it in messages: a path, or "IMAGE: VG/LV". */
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** Fills all of `dst` from byte `position`. */
  readAt(dst: Uint8Array, position: number): void;
  /** The same on libuv's threads, for readers that keep several reads in flight. */
  readAtAsync(dst: Uint8Array, position: number): Promise<void>;
  close(): void;
}

export class FileSource implements ByteSource {
  readonly size: number;
  /** A block device may be larger than what it holds; a file's size is its content's. */
  readonly isBlockDevice: boolean;
  /** The open file: a caller that opened it read-write (`mode` 'r+') writes through it too. */
  readonly fd: number;

  constructor(
    readonly name: string,
    what = 'metadata',
    mode: 'r' | 'r+' = 'r',
  ) {
    // Checked before the open: opening a FIFO would wait for a writer forever.
    statInput(name, what);
    try {
      this.fd = openSync(name, mode);
    } catch (e) {
      // The system's error stays as the cause: a caller that asked for 'r+' may fall back to reading.
      throw Object.assign(new UsageError(`cannot read ${what} ${name}: ${errnoWords(e)}`), { cause: e });
    }
    const st = fstatSync(this.fd);
    this.isBlockDevice = st.isBlockDevice();
    this.size = this.isBlockDevice ? probeDeviceSize(this.fd) : st.size;
  }

  readAt(dst: Uint8Array, position: number): void {
    const got = readUpTo(this.fd, dst, dst.length, position);
    if (got < dst.length) dst.fill(0, got);
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    const got = await readUpToAsync(this.fd, dst, dst.length, position);
    if (got < dst.length) dst.fill(0, got);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Size of a block device: the last 4 KiB block at which a read still returns data. */
export function probeDeviceSize(fd: number): number {
  const probe = new Uint8Array(1);
  let lo = 0;
  let hi = 1;
  while (readSync(fd, probe, 0, 1, hi * 4096) === 1) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (readSync(fd, probe, 0, 1, mid * 4096) === 1) lo = mid;
    else hi = mid;
  }
  return (lo + 1) * 4096;
}
