/**
 * Two thin LVs of one pool inside LVM images, as the two sides of a
 * file-level diff (thin/file-diff.ts): each LV's thin device id and its
 * size as LVM records it, and the pool they share. A thin LV lvremove took
 * away is found by the name LVM's history gives it (history.ts), and read
 * as recovery brings it back.
 */
import { ArgumentError, UsageError, must } from '../errors.js';
import type { DiffSide } from '../thin/file-diff.js';
import { findDeletion } from './history.js';
import type { LvmImages } from './images.js';
import { printable } from './printable.js';
import { splitVgLv, vgNamed, whichLvs } from './scan.js';
import { VgTextError, lvBytes } from './vg.js';

export interface LvDiffSides {
  /** VG/POOL both LVs are thin volumes of. */
  pool: string;
  before: DiffSide;
  after: DiffSide;
}

export function lvDiffSides(images: LvmImages, before: string, after: string): LvDiffSides {
  const sides = [before, after].map((text) => {
    const { vg, lv } = splitVgLv(text);
    const a = vgNamed(images.scan, vg, images.paths);
    const l = a.vg.lvs.get(lv);
    const thin = (x: { segments: Array<{ type: string }> }) => x.segments[0]?.type === 'thin';
    if (!l) {
      // A thin LV lvremove took away: LVM's history gives its device id, pool and size; the pool's metadata what survives of it.
      const d = findDeletion(images.history(), vg, lv);
      if (d) return { vg, pool: d.pool, side: { devId: d.deviceId, name: `${vg}/${lv} (removed)`, size: d.size } };
      const names = images
        .history()
        .deleted.filter((r) => r.vg === vg)
        .map((r) => r.name);
      throw new ArgumentError(
        `no LV ${printable(lv)} in VG ${printable(vg)} (${whichLvs(a.vg, images.paths, thin, 'thin LVs')}${names.length ? `; removed thin LVs LVM's history names: ${names.map(printable).join(', ')}` : ''})`,
      );
    }
    if (l.defect) throw new VgTextError(a.vg.name, l.defect);
    const seg = l.segments[0];
    if (seg?.type !== 'thin')
      throw new UsageError(`${printable(text)} is not a thin LV: diff compares two thin LVs of one pool (${whichLvs(a.vg, images.paths, thin, 'thin LVs')})`);
    return { vg, pool: seg.thinPool ?? '', side: { devId: must(seg.deviceId, `${seg.where}'s device_id`), name: `${vg}/${lv}`, size: lvBytes(a.vg, l) } };
  });
  const [a, b] = sides;
  if (a.vg !== b.vg || a.pool !== b.pool) {
    throw new UsageError(
      `${printable(a.side.name)} (pool ${printable(`${a.vg}/${a.pool}`)}) and ${printable(b.side.name)} (pool ${printable(`${b.vg}/${b.pool}`)}) are in different pools: a diff reads two thin LVs of one pool`,
    );
  }
  return { pool: `${a.vg}/${a.pool}`, before: a.side, after: b.side };
}
