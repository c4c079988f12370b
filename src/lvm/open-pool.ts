/**
 * A thin pool inside disk images, by LVM name: the images are scanned, the
 * VG found, and the pool's metadata LV opened in place as a ByteSource, so
 * that the thin commands (check, dump, ...) read it without lvm2.
 */
import { UsageError, must } from '../errors.js';
import type { PoolSource } from '../thin/pool-source.js';
import { LvSource, lvNotReadable } from './lv-source.js';
import { printable } from './printable.js';
import { type RunningProbe, runningPool } from './running.js';
import { type ImageSet, LvmImages, openImages } from './images.js';
import { type AssembledVg, type Scan, splitVgLv, vgNamed } from './scan.js';
import { type Segment, VgTextError, lvType } from './vg.js';

/** A thin pool's segment and its metadata and data LVs as ByteSources (read in place through their segments). */
export interface PoolSources {
  seg: Segment;
  metadata: LvSource;
  data: LvSource;
}

/**
 * Pool `name` of an assembled VG, its metadata and data LVs both whole in
 * the images (an LvNotAllThereError or VgTextError naming what is not);
 * `notAPool` is the UsageError's message when it is not a thin pool.
 * `partialData`: the data LV may lack bytes (they read as zeros, its
 * lostIn names them); the metadata LV must still be whole.
 */
export function poolSources(a: AssembledVg, name: string, notAPool: string, partialData = false): PoolSources {
  const { seg, metadata } = poolMetadata(a, name, notAPool);
  return { seg, metadata, data: new LvSource(a.vg, must(seg.dataLv, `${seg.where}'s pool`), a.pvs, `pool ${printable(name)}'s data LV`, partialData) };
}

/**
 * Pool `name`'s metadata LV (it must be whole in the images), and why its
 * data LV is not, if it is not: what the commands reading only the
 * metadata (check, dump, ...) report beside their answer.
 */
export function poolMetadata(a: AssembledVg, name: string, notAPool: string): { seg: Segment; metadata: LvSource; dataProblem?: string } {
  const lv = a.vg.lvs.get(name);
  if (lv?.defect) throw new VgTextError(a.vg.name, lv.defect);
  const seg = lv?.segments[0];
  if (seg?.type !== 'thin-pool') throw new UsageError(notAPool);
  const metadata = new LvSource(a.vg, must(seg.metadataLv, `${seg.where}'s metadata`), a.pvs, `pool ${printable(name)}'s metadata LV`);
  const dataProblem = lvNotReadable(a.vg, must(seg.dataLv, `${seg.where}'s pool`), a.pvs, `pool ${printable(name)}'s data LV`)?.message;
  return { seg, metadata, dataProblem };
}

/** A thin pool by its VG's name and uuid: what tells whether the kernel runs it (running.ts). */
export interface PoolIdentity {
  vg: string;
  vgId: string;
  pool: string;
}

/** A pool inside LVM images as a pool source (thin/pool-source.ts): its metadata LV read in place, never written. */
export interface OpenPool extends PoolIdentity, PoolSource {
  readonly kind: 'lvm';
  /** The pool's metadata LV. */
  readonly metadata: LvSource;
  /** The pool's data LV, when it is whole in the images. */
  readonly data?: LvSource;
  /** "VG/POOL", for messages. */
  readonly name: string;
  /** Why the pool's data LV is not whole in the images (a PV missing, an image short, ...): what was read is the metadata only. */
  readonly dataProblem?: string;
  /**
   * The pool's dm name when the kernel runs it from these images: its
   * metadata is read as last committed and may change while it is read
   * (a reader warns; a metadata snapshot through the kernel is the sure way).
   */
  readonly running?: string;
  readonly scan: Scan;
  /** The images the pool was opened from (their history, for a verb that names removed LVs). */
  readonly images: LvmImages;
  close(): void;
}

/**
 * Opens VG/POOL's metadata from `images`; throws a UsageError naming what is not there. `running`: whether the kernel runs it (default: sysfs says).
 * Images given opened stay open when the pool is closed; given as paths, they are the pool's and close with it.
 */
export function openPool(given: ImageSet, vgPool: string, running: RunningProbe = runningPool): OpenPool {
  const { vg: vgName, lv: poolName } = splitVgLv(vgPool, 'POOL');
  const opened = given instanceof LvmImages ? given : openImages(given);
  const close = (): void => {
    if (opened !== given) opened.close();
  };
  const images = opened.paths;
  try {
    const scan = opened.scan;
    const a = vgNamed(scan, vgName, images);
    const lv = a.vg.lvs.get(poolName);
    const pools = [...a.vg.lvs.values()].filter((l) => l.segments[0]?.type === 'thin-pool').map((l) => l.name);
    const { seg, metadata, dataProblem } = poolMetadata(
      a,
      poolName,
      `${printable(vgName)}/${printable(poolName)} is ${lv ? `a ${printable(lvType(lv))} LV, not a thin pool` : 'not an LV of the VG'}${pools.length ? ` (thin pools: ${pools.map(printable).join(', ')})` : ''}`,
    );
    const id = { vg: vgName, vgId: a.vg.id, pool: poolName };
    // The data LV is opened when first asked for: most verbs read only the metadata.
    const dataLv = seg.dataLv;
    let data: LvSource | undefined;
    return {
      kind: 'lvm',
      ...id,
      metadata,
      get data(): LvSource | undefined {
        if (!data && !dataProblem && dataLv !== undefined) data = new LvSource(a.vg, dataLv, a.pvs, `pool ${printable(poolName)}'s data LV`);
        return data;
      },
      dataProblem,
      running: running(id, images),
      name: `${vgName}/${poolName}`,
      files: [...images],
      writable: false,
      repairCommand: `dmthin lvm repair ${images.join(' ')} ${vgPool} -o NEW`,
      doctorCommand: `dmthin lvm doctor ${images.join(' ')} ${vgPool}`,
      scan,
      images: opened,
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
