/**
 * Copies moving data blocks to their destinations, then syncs. Runs of
 * blocks that are consecutive at both ends are copied with one read and
 * one write of up to COPY_BYTES: a plan from an emptied tail into free
 * space below it is mostly such runs, so the copy is close to sequential.
 */
import { UsageError } from '../../errors.js';
import { errnoWords } from '../../io/files.js';
import type { WritableVolume } from '../../io/volume.js';
import { crashPoint } from './fault.js';

const COPY_BYTES = 16 << 20;

export type CopyProgress = (doneBytes: number, totalBytes: number) => void;

export function copyBlocks(data: WritableVolume, from: Uint32Array, to: Uint32Array, blockBytes: number, onProgress?: CopyProgress): void {
  // Runs are joined up to COPY_BYTES; a data block larger than that (they reach 1 GiB) is copied in COPY_BYTES pieces.
  const perRun = Math.max(1, Math.floor(COPY_BYTES / blockBytes));
  const buf = new Uint8Array(Math.min(COPY_BYTES, Math.max(from.length, 1) * blockBytes));
  const total = from.length * blockBytes;
  let done = 0;
  for (let i = 0; i < from.length; ) {
    let n = 1;
    while (i + n < from.length && n < perRun && from[i + n] === from[i] + n && to[i + n] === to[i] + n) n++;
    const src = from[i] * blockBytes;
    const dst = to[i] * blockBytes;
    const len = n * blockBytes;
    for (let off = 0; off < len; off += buf.length) {
      const piece = Math.min(buf.length, len - off);
      try {
        if (src + off + piece > data.size) {
          throw new UsageError(`${data.name} ends before data block ${from[i] + n - 1} (byte ${src + len}), which the metadata maps`);
        }
        const part = buf.subarray(0, piece);
        data.readAt(part, src + off);
        data.writeAt(part, dst + off);
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(
          `copying data blocks ${from[i]}..${from[i] + n - 1} of ${data.name} to ${to[i]}.. failed: ${errnoWords(e)}; the metadata is unchanged, so the pool is as it was`,
        );
      }
      done += piece;
      onProgress?.(done, total);
      crashPoint('copy');
    }
    i += n;
  }
  data.sync();
}
