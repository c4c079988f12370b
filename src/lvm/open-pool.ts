/**
 * A thin pool inside disk images, by LVM name: the images are scanned, the
 * VG found, and the pool's metadata LV opened in place as a ByteSource, so
 * that the thin commands (check, dump, ...) read it without lvm2.
 */
import { UsageError } from '../errors.js';
import { LvSource } from './lv-source.js';
import { type AssembledVg, type Scan, scanImages, splitVgLv, vgNamed } from './scan.js';
import type { Segment } from './vg.js';

/** A thin pool's segment and its metadata and data LVs as ByteSources (read in place through their segments). */
export interface PoolSources {
  seg: Segment;
  metadata: LvSource;
  data: LvSource;
}

/** Pool `name` of an assembled VG; `notAPool` is the UsageError's message when it is not a thin pool. */
export function poolSources(a: AssembledVg, name: string, notAPool: string): PoolSources {
  const seg = a.vg.lvs.get(name)?.segments[0];
  if (seg?.type !== 'thin-pool') throw new UsageError(notAPool);
  return { seg, metadata: new LvSource(a.vg, seg.metadataLv!, a.pvs), data: new LvSource(a.vg, seg.dataLv!, a.pvs) };
}

/** A thin pool by its VG's name and uuid: what tells whether the kernel runs it (driver/kernel-lvm.ts). */
export interface PoolIdentity {
  vg: string;
  vgId: string;
  pool: string;
}

export interface OpenPool extends PoolIdentity {
  /** The pool's metadata LV. */
  metadata: LvSource;
  /** "VG/POOL", for messages. */
  name: string;
  scan: Scan;
  close(): void;
}

/** Opens VG/POOL's metadata from `images`; throws a UsageError naming what is not there. */
export function openPool(images: readonly string[], vgPool: string): OpenPool {
  const { vg: vgName, lv: poolName } = splitVgLv(vgPool, 'POOL');
  const scan = scanImages(images);
  try {
    const a = vgNamed(scan, vgName, images);
    const lv = a.vg.lvs.get(poolName);
    const pools = [...a.vg.lvs.values()].filter((l) => l.segments[0]?.type === 'thin-pool').map((l) => l.name);
    const { metadata } = poolSources(
      a,
      poolName,
      `${vgName}/${poolName} is ${lv ? `a ${lv.segments[0]?.type ?? 'segmentless'} LV, not a thin pool` : 'not an LV of the VG'}${pools.length ? ` (thin pools: ${pools.join(', ')})` : ''}`,
    );
    return { metadata, name: `${vgName}/${poolName}`, vg: vgName, vgId: a.vg.id, pool: poolName, scan, close: () => scan.close() };
  } catch (e) {
    scan.close();
    throw e;
  }
}

/** VG/LV's pool when it is a thin LV (undefined for any other LV; a missing LV is the caller's to report). */
export function poolOfThinLv(images: readonly string[], vgLv: string): PoolIdentity | undefined {
  const { vg: vgName, lv: name } = splitVgLv(vgLv);
  const scan = scanImages(images);
  try {
    const a = vgNamed(scan, vgName, images);
    const seg = a.vg.lvs.get(name)?.segments[0];
    return seg?.type === 'thin' ? { vg: vgName, vgId: a.vg.id, pool: seg.thinPool ?? '' } : undefined;
  } finally {
    scan.close();
  }
}
