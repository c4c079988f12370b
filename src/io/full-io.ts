/**
 * Whole reads and writes on a descriptor: readSync and writeSync may do
 * less than asked (a pipe, a signal, a large request), so every caller that
 * needs all of `len` bytes loops here.
 */
import { readSync, writeSync } from 'node:fs';

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

/** Whether the first `len` bytes of `buf` (8-byte aligned) are all zero: sparse writers skip them. */
export function isZero(buf: Uint8Array, len: number): boolean {
  const w = new BigUint64Array(buf.buffer, buf.byteOffset, len >>> 3);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0n) return false;
  for (let i = w.length * 8; i < len; i++) if (buf[i] !== 0) return false;
  return true;
}
