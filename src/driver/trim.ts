/**
 * Applies a trim to the data file or device: holes for regular files,
 * discards for block devices (io/unmap.ts, all ranges in one call). Refuses while anything holds the files: a loop device
 * backed by them, or an exclusive open of the device failing.
 */
import { statSync } from 'node:fs';
import { refuseIfHeld } from '../io/held.js';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { statInput } from '../io/files.js';
import { unmapRanges } from '../io/unmap.js';
import { findByBackingFile } from './losetup.js';
import type { Metadata } from '../thin/metadata.js';
import { type FreeRuns, freeDataRuns } from '../thin/free-runs.js';

export interface TrimResult {
  runs: FreeRuns;
  blockBytes: number;
  bytes: number;
}

async function refuseIfInUse(path: string, what: string): Promise<void> {
  const st = statSync(path);
  if (st.isFile()) {
    const loops = await findByBackingFile(resolve(path)).catch(() => []);
    if (loops.length > 0) {
      throw new UsageError(
        `${what} ${path} is attached to ${loops.map((l) => l.name).join(', ')}: the pool may be active; remove it (dmthin pool destroy) first`,
      );
    }
  } else {
    refuseIfHeld(path, what, 'the pool may be active; trim only an inactive pool');
  }
}

export async function trimData(md: Metadata, metadataPath: string, dataPath: string, options: { dryRun?: boolean } = {}): Promise<TrimResult> {
  statInput(dataPath, 'data');
  await refuseIfInUse(metadataPath, 'metadata');
  await refuseIfInUse(dataPath, 'data');
  const blockBytes = md.superblock.dataBlockSize * 512;
  const runs = freeDataRuns(md);
  const st = statSync(dataPath);
  const dataBytes = st.isBlockDevice() ? Infinity : st.size;
  if (st.isFile() && dataBytes < md.superblock.dataSpaceMapRoot.nrBlocks * blockBytes) {
    throw new UsageError(
      `${dataPath} (${dataBytes} bytes) is smaller than the pool's ${md.superblock.dataSpaceMapRoot.nrBlocks} data blocks of ${blockBytes} bytes: is it the right file?`,
    );
  }
  let bytes = 0;
  for (let i = 0; i < runs.n; i++) bytes += runs.length[i] * blockBytes;
  if (options.dryRun) return { runs, blockBytes, bytes };
  const ranges = new Float64Array(2 * runs.n);
  for (let i = 0; i < runs.n; i++) {
    ranges[2 * i] = runs.begin[i] * blockBytes;
    ranges[2 * i + 1] = runs.length[i] * blockBytes;
  }
  const done = unmapRanges(dataPath, st.isBlockDevice() ? 'device' : 'file', ranges, runs.n);
  if (!done.ok) {
    throw new UsageError(
      `cannot ${st.isBlockDevice() ? 'discard' : 'punch holes in'} ${dataPath}: ${done.why}; the ranges before it were trimmed (free blocks only), the rest not`,
    );
  }
  return { runs, blockBytes, bytes };
}
