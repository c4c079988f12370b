/**
 * Whole reads and writes on a descriptor: readSync and writeSync may do
 * less than asked (a pipe, a signal, a large request), so every caller that
 * needs all of `len` bytes loops here.
 */
import { read, readSync, write, writeSync } from 'node:fs';

/** Reads `len` bytes at `pos` into `buf`, or fewer when the file ends first; returns how many. */
export function readUpTo(fd: number, buf: Uint8Array, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = readSync(fd, buf, done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Reads exactly `len` bytes at `pos` into `buf`; returns false when the
 * file ends first (the caller says what that means), having read what there was.
 */
export function readFull(fd: number, buf: Uint8Array, len: number, pos: number): boolean {
  return readUpTo(fd, buf, len, pos) === len;
}

/**
 * Writes the first `len` bytes of `buf` at `pos`, or at the current
 * position when `pos` is null (a stream); a pipe that is not ready
 * (EAGAIN) is tried again.
 */
export function writeFull(fd: number, buf: Uint8Array, len: number, pos: number | null): void {
  let done = 0;
  while (done < len) {
    try {
      done += writeSync(fd, buf, done, len - done, pos === null ? null : pos + done);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/** Compared against; made on first use (a MiB allocated at start-up would cost every command). */
let zeros: Uint8Array | undefined;

/** Whether the first `len` bytes of `buf` are all zero: sparse writers skip them. Compared natively (memcmp), a MiB at a time. */
export function isZero(buf: Uint8Array, len: number): boolean {
  zeros ??= new Uint8Array(1 << 20);
  const z = zeros;
  const b = Buffer.from(buf.buffer, buf.byteOffset, len);
  for (let off = 0; off < len; off += z.length) {
    const n = Math.min(z.length, len - off);
    if (Buffer.compare(b.subarray(off, off + n), z.subarray(0, n)) !== 0) return false;
  }
  return true;
}

/**
 * readUpTo on one of libuv's threads: the main thread stays free to
 * checksum while the kernel copies. Resolves with the bytes read (fewer at
 * the end of the file).
 */
export function readUpToAsync(fd: number, buf: Uint8Array, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      if (done >= len) {
        resolve(done);
        return;
      }
      read(fd, buf, done, len - done, pos + done, (err, n) => {
        if (err) reject(err);
        else if (n === 0) resolve(done);
        else {
          done += n;
          step();
        }
      });
    };
    step();
  });
}

/** writeFull on one of libuv's threads (a pipe not ready is tried again). */
export function writeFullAsync(fd: number, buf: Uint8Array, len: number, pos: number | null): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      if (done >= len) {
        resolve();
        return;
      }
      write(fd, buf, done, len - done, pos === null ? null : pos + done, (err, n) => {
        if (err && err.code !== 'EAGAIN') reject(err);
        else if (err) setImmediate(step);
        else {
          done += n;
          step();
        }
      });
    };
    step();
  });
}
