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
import { scanDeleted } from '../thin/recover/scan-deleted.js';
import { type DeletedExportReport, exportDeleted } from '../thin/recover/export-deleted.js';
import { type DeletedThinLv, newestDeletion } from './history.js';
import { type ImageSet, withImages } from './images.js';
import { withImageOutput } from './export-lv.js';
import { poolSources } from './open-pool.js';
import { printable } from './printable.js';
import { type RunningProbe, refuseRecoveryFromRunning } from './running.js';
import { type AssembledVg, splitVgLv, vgNamed } from './scan.js';

export interface DeletedLvExportReport extends DeletedExportReport {
  /** The LV's type, as every lvm export's JSON gives it: a deleted LV is always a thin one. */
  kind: 'thin';
  lv: string;
  pool: string;
  /** History's time of the deletion (`removed_at` in the output, as lvm history says it). */
  removedAt?: string;
}

/** Writes deleted VG/LV to `output`: a descriptor, or a path opened (as exportLv does) only once the pool is known not to run. */
export function exportDeletedLv(
  images: ImageSet,
  vgLv: string,
  output: number | string,
  options: { includeUnknown?: boolean; onProgress?: (done: number, total: number) => void; running?: RunningProbe } = {},
): DeletedLvExportReport {
  const { vg, lv } = splitVgLv(vgLv);
  return withImages(images, (opened) => {
    const deleted = newestDeletion(opened.history(), vg, lv);
    const a = vgNamed(opened.scan, deleted.vg, opened.paths);
    refuseRecoveryFromRunning({ vg: deleted.vg, vgId: a.vg.id, pool: deleted.pool }, opened.paths, vgLv, options.running);
    return withImageOutput(output, opened.paths, (outFd) => exportFound(a, deleted, vgLv, outFd, options));
  });
}

/** The export of deleted LV `deleted` from its pool in assembled VG `a` to `outFd`. */
function exportFound(
  a: AssembledVg,
  deleted: DeletedThinLv,
  vgLv: string,
  outFd: number,
  options: { includeUnknown?: boolean; onProgress?: (done: number, total: number) => void },
): DeletedLvExportReport {
  const pool = poolSources(a, deleted.pool, `${printable(vgLv)}'s pool ${printable(deleted.pool)} is no longer a thin pool of VG ${printable(deleted.vg)}`);
  const md = Metadata.open(pool.metadata);
  try {
    if (md.devices().some((d) => d.devId === deleted.deviceId)) {
      throw new UsageError(
        `device ${deleted.deviceId} of pool ${printable(deleted.pool)} is live again (its id was given to a new thin LV): ${printable(vgLv)}'s tree cannot be told from it`,
      );
    }
    const found = scanDeleted(md.reader);
    const r = exportDeleted(md, found, deleted.deviceId, pool.data, outFd, {
      size: deleted.size,
      includeUnknown: options.includeUnknown,
      onProgress: options.onProgress,
    });
    return { kind: 'thin', ...r, lv: vgLv, pool: deleted.pool, removedAt: deleted.removedAt };
  } finally {
    md.close();
  }
}
