/**
 * A ByteSource that can also be written and synced: what shrink moves data
 * blocks in and writes new metadata into. A pool's file or device is one
 * (FileVolume); an LV inside disk images is another (lvm/lv-volume.ts),
 * whose writes go through its segments onto the PV images. Keeping the
 * moves and the commit above this interface is what lets one crash-safe
 * order serve both.
 */
import { fsyncSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { type ByteSource, FileSource } from './byte-source.js';
import { errnoWords } from './files.js';
import { writeFull } from './full-io.js';

export interface WritableVolume extends ByteSource {
  /** Writes all of `src` at byte `position`; never past `size`. */
  writeAt(src: Uint8Array, position: number): void;
  /** Everything written so far is on stable storage when this returns. */
  sync(): void;
}

/** Refuses a write of `length` bytes at `position` that would run past `volume`'s end (a shrink writes only inside what it read). */
export function assertWithin(volume: { name: string; size: number }, position: number, length: number): void {
  if (position + length > volume.size)
    throw new RangeError(`write of bytes ${position}..${position + length - 1} past the end of ${volume.name} (${volume.size} bytes)`);
}

/** A file or block device opened read-write, in place (its size kept): a FileSource that also writes. */
export class FileVolume extends FileSource implements WritableVolume {
  constructor(name: string, what: string) {
    try {
      super(name, what, 'r+');
    } catch (e) {
      // FileSource says "cannot read": here it is the write that cannot be made.
      const cause = e instanceof UsageError ? e.cause : e;
      throw cause === undefined ? e : new UsageError(`cannot write ${what} ${name}: ${errnoWords(cause)}`);
    }
  }

  writeAt(src: Uint8Array, position: number): void {
    assertWithin(this, position, src.length);
    writeFull(this.fd, src, src.length, position);
  }

  sync(): void {
    fsyncSync(this.fd);
  }
}
