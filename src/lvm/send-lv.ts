/**
 * `dmthin lvm send IMAGE... VG/LV [--base VG/BASE]`: a thin LV as a stream
 * (stream/send.ts) by LVM's names, its pool's metadata and data read in
 * place from the images; the base must be a thin LV of the same pool.
 *
 * When the kernel runs the pool from these images, its metadata changes as
 * it is read: the plan names the running pool (live), and the LV is sent
 * through the kernel (driver/send-thin.ts, sendThinLive) instead; sendLv
 * refuses it.
 */
import { UsageError, must } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { type SendResult, send } from '../stream/send.js';
import { poolSources } from './open-pool.js';
import { adviseDamage, withDoctorAdvice } from '../thin/damage.js';
import { printable } from './printable.js';
import { type RunningProbe, runningPool } from './running.js';
import { type ImageSet, withImages, withImagesAsync } from './images.js';
import { type AssembledVg, splitVgLv, vgNamed, whichLvs } from './scan.js';
import { lvBytes, lvType } from './vg.js';

/** What `lvm send` sends, from LVM's text alone: the pool, the thin ids, the LV's size, and the VG's uuid. */
export interface LvSendPlan {
  vg: string;
  vgId: string;
  pool: string;
  id: number;
  baseId: number | undefined;
  size: number;
  /** The running pool's dm name when the kernel runs it from the images: send live, through it (sendThinLive). */
  live: string | undefined;
}

function plan(a: AssembledVg, vgLv: string, baseLv: string | undefined, images: readonly string[], running: RunningProbe): LvSendPlan {
  const { vg: vgName, lv: name } = splitVgLv(vgLv);
  const thin = (n: string): { pool: string; id: number; size: number } => {
    const lv = a.vg.lvs.get(n);
    const seg = lv?.segments[0];
    if (!lv || seg?.type !== 'thin')
      throw new UsageError(
        `${printable(vgName)}/${printable(n)} is ${lv ? (lv.defect ? `unreadable (${lv.defect})` : `a ${printable(lvType(lv))} LV`) : 'not an LV of the VG'}: lvm send takes thin LVs (${whichLvs(a.vg, images, (l) => l.segments[0]?.type === 'thin', 'thin LVs')})`,
      );
    return { pool: seg.thinPool ?? '', id: must(seg.deviceId, `${seg.where}'s device_id`), size: lvBytes(a.vg, lv) };
  };
  const t = thin(name);
  let baseId: number | undefined;
  if (baseLv !== undefined) {
    const b = splitVgLv(baseLv);
    if (b.vg !== vgName) throw new UsageError(`the base ${printable(baseLv)} is in another VG than ${printable(vgLv)}`);
    const bt = thin(b.lv);
    if (bt.pool !== t.pool)
      throw new UsageError(
        `the base ${printable(baseLv)} is in pool ${printable(bt.pool)}, ${printable(vgLv)} in pool ${printable(t.pool)}: a base must be a snapshot in the same pool`,
      );
    baseId = bt.id;
  }
  const live = running({ vg: vgName, vgId: a.vg.id, pool: t.pool }, images);
  return { vg: vgName, vgId: a.vg.id, pool: t.pool, id: t.id, baseId, size: t.size, live };
}

/** The plan for VG/LV from the images' LVM text (nothing but the labels and metadata areas read) and, from sysfs, whether the pool runs. */
export function planLvSend(images: ImageSet, vgLv: string, baseLv: string | undefined, running: RunningProbe = runningPool): LvSendPlan {
  return withImages(images, (opened) => plan(vgNamed(opened.scan, splitVgLv(vgLv).vg, opened.paths), vgLv, baseLv, opened.paths, running));
}

/** Sends VG/LV from the images, read in place (an inactive pool, or a copy of one); a pool the kernel runs from them is refused. */
export async function sendLv(
  images: ImageSet,
  vgLv: string,
  baseLv: string | undefined,
  outFd: number,
  running: RunningProbe = runningPool,
): Promise<SendResult & { lv: string; baseLv: string | null }> {
  return withImagesAsync(images, async (opened) => {
    const a = vgNamed(opened.scan, splitVgLv(vgLv).vg, opened.paths);
    const p = plan(a, vgLv, baseLv, opened.paths, running);
    if (p.live) {
      throw new UsageError(
        `${vgLv} is a thin LV of ${printable(p.vg)}/${printable(p.pool)}, which the kernel runs from these disks (${p.live}): its metadata and data change while they are read. ` +
          `Send it through the kernel: planLvSend gives the pool and ids, sendThinLive sends them (as dmthin lvm send ${opened.paths.join(' ')} ${vgLv} does)`,
      );
    }
    const pool = poolSources(a, p.pool, `${printable(vgLv)}'s pool ${printable(p.pool)} is not a thin pool of VG ${printable(p.vg)}`);
    const vgPool = `${p.vg}/${p.pool}`;
    const doctor = `dmthin lvm doctor ${opened.paths.join(' ')} ${vgPool}`;
    const md = withDoctorAdvice(vgPool, doctor, () => Metadata.open(pool.metadata));
    try {
      const r = await send(md, pool.data, p.id, outFd, { base: p.baseId, size: p.size }).catch((e: unknown) => {
        throw adviseDamage(vgPool, doctor, e);
      });
      return { ...r, lv: vgLv, baseLv: baseLv ?? null };
    } finally {
      md.close();
    }
  });
}
