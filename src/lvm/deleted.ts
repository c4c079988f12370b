/**
 * `dmthin lvm ls --deleted`: in every thin pool of the images, the deleted
 * devices whose trees survive (thin/recover), named by LVM's history where
 * it remembers the thin LV that held the id (history.ts removed[]).
 */
import { must } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { type DeletedDevice, scanDeleted } from '../thin/recover/deleted.js';
import { lvmHistory } from './history.js';
import { LvNotAllThereError, LvSource, lvNotReadable } from './lv-source.js';
import { printable } from './printable.js';
import { VgTextError } from './vg.js';
import { type LvmProblem, scanImages } from './scan.js';

export interface LvmDeletedDevice {
  device_id: number;
  /** The removed thin LV's name, size and time, when LVM's history has them. */
  name?: string;
  size?: number;
  origin?: string;
  removed_at?: string;
  mapped_blocks: number;
  intact: number;
  shared: number;
  reallocated: number;
  unknown: number;
}

export interface LvmDeletedPool {
  vg: string;
  pool: string;
  live_devices: number;
  devices: LvmDeletedDevice[];
  unattributed: { leaves: number; mappings: number };
}

export function lvmDeleted(images: readonly string[]): { pools: LvmDeletedPool[]; problems: LvmProblem[] } {
  const history = lvmHistory(images);
  const scan = scanImages(images);
  try {
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
            scan.problems.push({ kind: 'unreadable_pool_data', vg: a.vg.name, lv: lv.name, detail: `${data.detail}: its removed thin LVs cannot be exported` });
          const s = scanDeleted(md.reader);
          pools.push({
            vg: a.vg.name,
            pool: lv.name,
            live_devices: s.liveDevices,
            devices: s.devices.map((d) =>
              named(
                d,
                history.removed.filter((r) => r.vg === a.vg.name && r.pool === lv.name && r.device_id === d.devId),
              ),
            ),
            unattributed: { leaves: s.unattributed.length, mappings: s.unattributed.reduce((n, l) => n + l.mappings, 0) },
          });
        } catch (e) {
          const detail = e instanceof VgTextError || e instanceof LvNotAllThereError ? e.detail : `${printable(metadataLv)}: ${(e as Error).message}`;
          scan.problems.push({ kind: 'unreadable_pool_metadata', vg: a.vg.name, lv: lv.name, detail });
        } finally {
          md?.close();
        }
      }
    }
    return { pools, problems: scan.problems };
  } finally {
    scan.close();
  }
}

function named(d: DeletedDevice, removals: ReturnType<typeof lvmHistory>['removed']): LvmDeletedDevice {
  const r = removals.sort((x, y) => y.last_seqno - x.last_seqno)[0];
  return {
    device_id: d.devId,
    ...(r ? { name: r.name, size: r.size, ...(r.origin ? { origin: r.origin } : {}), ...(r.removed_at ? { removed_at: r.removed_at } : {}) } : {}),
    mapped_blocks: d.counts.mapped,
    intact: d.counts.intact,
    shared: d.counts.shared,
    reallocated: d.counts.reallocated,
    unknown: d.counts.unknown,
  };
}
