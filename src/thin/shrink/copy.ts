/**
 * Copies moving data blocks to their destinations, then syncs. Runs of
 * blocks that are consecutive at both ends are copied with one read and
 * one write of up to COPY_BYTES: a plan from an emptied tail into free
 * space below it is mostly such runs, so the copy is close to sequential.
 */
import { fsyncSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { errnoWords } from '../../io/files.js';
import { readFull, writeFull } from '../../io/full-io.js';
import { crashPoint } from './fault.js';

const COPY_BYTES = 16 << 20;

export type CopyProgress = (doneBytes: number, totalBytes: number) => void;

export function copyBlocks(fd: number, path: string, from: Uint32Array, to: Uint32Array, blockBytes: number, onProgress?: CopyProgress): void {
  const perRun = Math.max(1, Math.floor(COPY_BYTES / blockBytes));
  const buf = new Uint8Array(Math.min(perRun, Math.max(from.length, 1)) * blockBytes);
  const total = from.length * blockBytes;
  let done = 0;
  for (let i = 0; i < from.length; ) {
    let n = 1;
    while (i + n < from.length && n < perRun && from[i + n] === from[i] + n && to[i + n] === to[i] + n) n++;
    const len = n * blockBytes;
    try {
      if (!readFull(fd, buf, len, from[i] * blockBytes)) {
        throw new UsageError(`${path} ends before data block ${from[i] + n - 1} (byte ${(from[i] + n) * blockBytes}), which the metadata maps`);
      }
      writeFull(fd, buf, len, to[i] * blockBytes);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(
        `copying data blocks ${from[i]}..${from[i] + n - 1} of ${path} to ${to[i]}.. failed: ${errnoWords(e)}; the metadata is unchanged, so the pool is as it was`,
      );
    }
    i += n;
    done += len;
    onProgress?.(done, total);
    crashPoint('copy');
  }
  fsyncSync(fd);
}
