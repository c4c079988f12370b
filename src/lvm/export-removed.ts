/**
 * `dmthin lvm export IMAGE... VG/LV --deleted`: a thin LV that lvremove took
 * away, by the name LVM's history gives it (history.ts: its device id,
 * pool and size), exported as recovery exports a deleted device
 * (thin/recover): only the blocks the evidence vouches for, the rest as
 * zeros. Refused when the kernel runs the pool from these images
 * (running.ts, refuseRecoveryFromRunning).
 */
import { UsageError } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { scanDeleted } from '../thin/recover/deleted.js';
import { type DeletedExportReport, exportDeleted } from '../thin/recover/export-deleted.js';
import { type RemovedThinLv, newestRemoval } from './history.js';
import { type ImageSet, withImages } from './images.js';
import { withImageOutput } from './export-lv.js';
import { poolSources } from './open-pool.js';
import { printable } from './printable.js';
import { type RunningProbe, refuseRecoveryFromRunning } from './running.js';
import { type AssembledVg, splitVgLv, vgNamed } from './scan.js';

export interface RemovedExportReport extends DeletedExportReport {
  lv: string;
  pool: string;
  removed_at?: string;
}

/** Writes removed VG/LV to `output`: a descriptor, or a path opened (as exportLv does) only once the pool is known not to run. */
export function exportRemovedLv(
  images: ImageSet,
  vgLv: string,
  output: number | string,
  options: { includeUnknown?: boolean; onProgress?: (done: number, total: number) => void; running?: RunningProbe } = {},
): RemovedExportReport {
  const { vg, lv } = splitVgLv(vgLv);
  return withImages(images, (opened) => {
    const removed = newestRemoval(opened.history(), vg, lv);
    const a = vgNamed(opened.scan, removed.vg, opened.paths);
    refuseRecoveryFromRunning({ vg: removed.vg, vgId: a.vg.id, pool: removed.pool }, opened.paths, vgLv, options.running);
    return withImageOutput(output, opened.paths, (outFd) => exportFound(a, removed, vgLv, outFd, options));
  });
}

/** The export of removed LV `removed` from its pool in assembled VG `a` to `outFd`. */
function exportFound(
  a: AssembledVg,
  removed: RemovedThinLv,
  vgLv: string,
  outFd: number,
  options: { includeUnknown?: boolean; onProgress?: (done: number, total: number) => void },
): RemovedExportReport {
  const pool = poolSources(a, removed.pool, `${printable(vgLv)}'s pool ${printable(removed.pool)} is no longer a thin pool of VG ${printable(removed.vg)}`);
  const md = Metadata.open(pool.metadata);
  try {
    if (md.devices().some((d) => d.devId === removed.device_id)) {
      throw new UsageError(
        `device ${removed.device_id} of pool ${printable(removed.pool)} is live again (its id was given to a new thin LV): ${printable(vgLv)}'s tree cannot be told from it`,
      );
    }
    const found = scanDeleted(md.reader);
    const r = exportDeleted(md, found, removed.device_id, pool.data, outFd, {
      size: removed.size,
      includeUnknown: options.includeUnknown,
      onProgress: options.onProgress,
    });
    return { ...r, lv: vgLv, pool: removed.pool, removed_at: removed.removed_at };
  } finally {
    md.close();
  }
}
