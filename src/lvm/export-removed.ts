/**
 * `dmthin lvm export IMAGE... VG/LV --deleted`: a thin LV that lvremove took
 * away, by the name LVM's history gives it (history.ts: its device id,
 * pool and size), exported as recovery exports a deleted device
 * (thin/recover): only the blocks the evidence vouches for, the rest as
 * zeros.
 */
import { UsageError } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { scanDeleted } from '../thin/recover/deleted.js';
import { type DeletedExportReport, exportDeleted } from '../thin/recover/export-deleted.js';
import { type RemovedThinLv, lvmHistory } from './history.js';
import { LvSource } from './lv-source.js';
import { scanImages, splitVgLv, vgNamed } from './scan.js';

export interface RemovedExportReport extends DeletedExportReport {
  lv: string;
  pool: string;
  removed_at?: string;
}

/** The newest removal of VG/LV that LVM's history records. */
export function removedLv(images: readonly string[], vgLv: string): RemovedThinLv {
  const { vg, lv } = splitVgLv(vgLv);
  const h = lvmHistory(images);
  const found = h.removed.filter((r) => r.vg === vg && r.name === lv).sort((a, b) => b.last_seqno - a.last_seqno);
  if (!found.length) {
    const names = h.removed.filter((r) => r.vg === vg).map((r) => r.name);
    throw new UsageError(
      `LVM's history in the images names no removed thin LV ${vgLv}${names.length ? ` (removed: ${names.join(', ')})` : ''}; see dmthin lvm history`,
    );
  }
  return found[0]!;
}

export function exportRemovedLv(
  images: readonly string[],
  vgLv: string,
  outFd: number,
  options: { includeUnknown?: boolean; onProgress?: (done: number, total: number) => void } = {},
): RemovedExportReport {
  const removed = removedLv(images, vgLv);
  const scan = scanImages(images);
  try {
    const a = vgNamed(scan, removed.vg, images);
    const pool = a.vg.lvs.get(removed.pool)?.segments[0];
    if (pool?.type !== 'thin-pool') throw new UsageError(`${vgLv}'s pool ${removed.pool} is no longer a thin pool of VG ${removed.vg}`);
    const md = Metadata.open(new LvSource(a.vg, pool.metadataLv!, a.pvs));
    try {
      if (md.devices().some((d) => d.devId === removed.device_id)) {
        throw new UsageError(
          `device ${removed.device_id} of pool ${removed.pool} is live again (its id was given to a new thin LV): ${vgLv}'s tree cannot be told from it`,
        );
      }
      const found = scanDeleted(md.reader);
      const r = exportDeleted(md, found, removed.device_id, new LvSource(a.vg, pool.dataLv!, a.pvs), outFd, {
        size: removed.size,
        includeUnknown: options.includeUnknown,
        onProgress: options.onProgress,
      });
      return { ...r, lv: vgLv, pool: removed.pool, removed_at: removed.removed_at };
    } finally {
      md.close();
    }
  } finally {
    scan.close();
  }
}
