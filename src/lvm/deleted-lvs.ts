/**
 * `dmthin lvm ls --deleted`: in every thin pool of the images, the deleted
 * devices whose trees survive (thin/recover), named by LVM's history where
 * it remembers the thin LV that held the id (history.ts: History.deleted).
 */
import { must } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { type DeletedDevice, scanDeleted } from '../thin/recover/scan-deleted.js';
import type { DeletedThinLv } from './history.js';
import { type ImageSet, withImages } from './images.js';
import { LvNotAllThereError, LvSource, lvNotReadable } from './lv-source.js';
import { printable } from './printable.js';
import { VgTextError } from './vg.js';
import type { LvmProblem } from './scan.js';

export interface LvmDeletedDevice {
  deviceId: number;
  /** The deleted thin LV's name, size and time, when LVM's history has them. */
  name?: string;
  size?: number;
  origin?: string;
  /** History's time of the deletion (`removed_at` in the output, as lvm history says it). */
  removedAt?: string;
  mappedBlocks: number;
  intact: number;
  shared: number;
  reallocated: number;
  unknown: number;
}

export interface LvmDeletedPool {
  vg: string;
  pool: string;
  liveDevices: number;
  devices: LvmDeletedDevice[];
  unattributed: { leaves: number; mappings: number };
}

export function lvmDeleted(images: ImageSet): { pools: LvmDeletedPool[]; problems: LvmProblem[] } {
  return withImages(images, (opened) => {
    const history = opened.history();
    const scan = opened.scan;
    // A copy: the scan's own list is shared by every verb given these images.
    const problems = [...scan.problems];
    const pools: LvmDeletedPool[] = [];
    for (const a of scan.vgs) {
      for (const lv of a.vg.lvs.values()) {
        const seg = lv.segments[0];
        if (seg?.type !== 'thin-pool') continue;
        const metadataLv = must(seg.metadataLv, `${seg.where}'s metadata`);
        let md: Metadata | undefined;
        try {
          md = Metadata.open(new LvSource(a.vg, metadataLv, a.pvs, `pool ${printable(lv.name)}'s metadata LV`));
          // What is listed comes from the metadata; the blocks it names are in the data LV, which export reads.
          const data = lvNotReadable(a.vg, must(seg.dataLv, `${seg.where}'s pool`), a.pvs, `pool ${printable(lv.name)}'s data LV`);
          if (data)
            problems.push({ kind: 'unreadable_pool_data', vg: a.vg.name, lv: lv.name, detail: `${data.detail}: its removed thin LVs cannot be exported` });
          const s = scanDeleted(md.reader);
          pools.push({
            vg: a.vg.name,
            pool: lv.name,
            liveDevices: s.liveDevices,
            devices: s.devices.map((d) =>
              named(
                d,
                history.deleted.filter((r) => r.vg === a.vg.name && r.pool === lv.name && r.deviceId === d.devId),
              ),
            ),
            unattributed: { leaves: s.unattributed.length, mappings: s.unattributed.reduce((n, l) => n + l.mappings, 0) },
          });
        } catch (e) {
          const detail = e instanceof VgTextError || e instanceof LvNotAllThereError ? e.detail : `${printable(metadataLv)}: ${(e as Error).message}`;
          problems.push({ kind: 'unreadable_pool_metadata', vg: a.vg.name, lv: lv.name, detail });
        } finally {
          md?.close();
        }
      }
    }
    return { pools, problems };
  });
}

function named(d: DeletedDevice, deletions: DeletedThinLv[]): LvmDeletedDevice {
  const r = deletions.sort((x, y) => y.lastSeqno - x.lastSeqno)[0];
  return {
    deviceId: d.devId,
    ...(r ? { name: r.name, size: r.size, ...(r.origin ? { origin: r.origin } : {}), ...(r.removedAt ? { removedAt: r.removedAt } : {}) } : {}),
    mappedBlocks: d.counts.mapped,
    intact: d.counts.intact,
    shared: d.counts.shared,
    reallocated: d.counts.reallocated,
    unknown: d.counts.unknown,
  };
}
