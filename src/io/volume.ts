/**
 * A ByteSource that can also be written and synced: what shrink moves data
 * blocks in and writes new metadata into. A pool's file or device is one
 * (FileVolume); an LV inside disk images is another (lvm/lv-volume.ts),
 * whose writes go through its segments onto the PV images. Keeping the
 * moves and the commit above this interface is what lets one crash-safe
 * order serve both.
 */
import { closeSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { probeDeviceSize } from './byte-source.js';
import { errnoWords } from './files.js';
import { readUpTo, readUpToAsync, writeFull } from './full-io.js';

export interface WritableVolume extends ByteSource {
  /** Writes all of `src` at byte `position`; never past `size`. */
  writeAt(src: Uint8Array, position: number): void;
  /** Everything written so far is on stable storage when this returns. */
  sync(): void;
}

/** A file or block device opened read-write, in place (its size kept). */
export class FileVolume implements WritableVolume {
  readonly size: number;
  private readonly fd: number;

  constructor(
    readonly name: string,
    what: string,
  ) {
    try {
      this.fd = openSync(name, 'r+');
    } catch (e) {
      throw new UsageError(`cannot write ${what} ${name}: ${errnoWords(e)}`);
    }
    const st = fstatSync(this.fd);
    this.size = st.isBlockDevice() ? probeDeviceSize(this.fd) : st.size;
  }

  readAt(dst: Uint8Array, position: number): void {
    const got = readUpTo(this.fd, dst, dst.length, position);
    if (got < dst.length) dst.fill(0, got);
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    const got = await readUpToAsync(this.fd, dst, dst.length, position);
    if (got < dst.length) dst.fill(0, got);
  }

  writeAt(src: Uint8Array, position: number): void {
    if (position + src.length > this.size)
      throw new RangeError(`write of bytes ${position}..${position + src.length - 1} past the end of ${this.name} (${this.size} bytes)`);
    writeFull(this.fd, src, src.length, position);
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
