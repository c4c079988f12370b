/**
 * `dmthin lvm send IMAGE... VG/LV [--base VG/BASE]`: a thin LV as a stream
 * (stream/send.ts) by LVM's names, its pool's metadata and data read in
 * place from the images; the base must be a thin LV of the same pool.
 */
import { UsageError } from '../errors.js';
import { Metadata } from '../thin/metadata.js';
import { type SendResult, send } from '../stream/send.js';
import { poolSources } from './open-pool.js';
import { scanImages, splitVgLv, vgNamed } from './scan.js';
import { lvBytes } from './vg.js';

export async function sendLv(
  images: readonly string[],
  vgLv: string,
  baseLv: string | undefined,
  outFd: number,
): Promise<SendResult & { lv: string; base_lv: string | null }> {
  const { vg: vgName, lv: name } = splitVgLv(vgLv);
  const scan = scanImages(images);
  try {
    const a = vgNamed(scan, vgName, images);
    const thin = (n: string): { pool: string; id: number; size: number } => {
      const lv = a.vg.lvs.get(n);
      const seg = lv?.segments[0];
      if (!lv || seg?.type !== 'thin')
        throw new UsageError(`${vgName}/${n} is ${lv ? `a ${seg?.type ?? 'segmentless'} LV` : 'not an LV of the VG'}: lvm send takes thin LVs`);
      return { pool: seg.thinPool ?? '', id: seg.deviceId!, size: lvBytes(a.vg, lv) };
    };
    const t = thin(name);
    let baseId: number | undefined;
    if (baseLv !== undefined) {
      const b = splitVgLv(baseLv);
      if (b.vg !== vgName) throw new UsageError(`the base ${baseLv} is in another VG than ${vgLv}`);
      const bt = thin(b.lv);
      if (bt.pool !== t.pool)
        throw new UsageError(`the base ${baseLv} is in pool ${bt.pool}, ${vgLv} in pool ${t.pool}: a base must be a snapshot in the same pool`);
      baseId = bt.id;
    }
    const pool = poolSources(a, t.pool, `${vgLv}'s pool ${t.pool} is not a thin pool of VG ${vgName}`);
    const md = Metadata.open(pool.metadata);
    try {
      const r = await send(md, pool.data, t.id, outFd, { base: baseId, size: t.size });
      return { ...r, lv: vgLv, base_lv: baseLv ?? null };
    } finally {
      md.close();
    }
  } finally {
    scan.close();
  }
}
