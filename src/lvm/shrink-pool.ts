/**
 * `dmthin lvm shrink`: a thin pool inside disk images made smaller, in
 * place, without lvm2 or device-mapper. lvm2 cannot do it ("Thin pool
 * volumes cannot be reduced in size yet").
 *
 * The order is the raw shrink's (thin/shrink/shrink.ts) with one step
 * after it, and each step leaves a pool lvm2 activates as before:
 *  1. every refusal first, the VG text's included: the cut text is made
 *     (shrink-pool-text.ts: a whole number of extents, or the nearest are
 *     named) and its write planned on every metadata area (write-vg.ts,
 *     checkOnly), so that nothing is moved for a text that could not follow;
 *  2. data blocks moved inside the data LV, the new metadata committed in
 *     the metadata LV saying the new size (killed here: the old VG text
 *     still gives the pool its old data LV; the kernel, finding the LV
 *     larger than the metadata says, grows the metadata's count back at
 *     activation, dm-thin.c maybe_resize_data_dev; nothing maps past it);
 *  3. the VG text, the data LV and the pool cut to the new extents, seqno
 *     + 1, into every metadata area (the header of each its commit).
 * Run again after a crash, it finds the metadata already at the size and
 * writes only the text; with the text written too, there is nothing to do.
 */
import { ArgumentError, UsageError, must } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { Metadata } from '../thin/metadata.js';
import { planShrink } from '../thin/shrink/plan.js';
import type { RunningProbe } from './running.js';
import { crashPoint } from '../thin/shrink/fault.js';
import { type ShrinkOptions, type ShrinkResult, shrinkPool, sizeInBlocks } from '../thin/shrink/shrink.js';
import { type LvmImages, withImages } from './images.js';
import { LvVolume } from './lv-volume.js';
import { openPool } from './open-pool.js';
import { printable } from './printable.js';
import { type FreedExtents, cutPoolData, extentUnitBlocks } from './shrink-pool-text.js';
import type { VgRunningProbe } from './running.js';
import { writeVgText } from './write-vg.js';

export interface LvmShrinkOptions extends ShrinkOptions {
  /** Tests: whether the kernel runs the pool / the VG (default: sysfs says). */
  runningPool?: RunningProbe;
  runningVg?: VgRunningProbe;
}

export interface LvmShrinkResult extends ShrinkResult {
  vg: string;
  pool: string;
  /** The data LV's extents before and after (equal when the VG text already said the size). */
  fromExtents: number;
  toExtents: number;
  /** PV extents the data LV gives back (free in the VG once the text is written). */
  freed: FreedExtents[];
  /** The VG text's seqno written (absent on a dry run, or when the text already said the size). */
  seqno?: number;
  /** Metadata areas the text was written into (or, dry run, would be); when the pool was already that size, the areas an interrupted write had left at the old text. */
  metadataAreas: number;
}

export function lvmShrink(images: readonly string[] | LvmImages, vgPool: string, sizeBytes: number, options: LvmShrinkOptions = {}): LvmShrinkResult {
  return withImages(images, (opened) => {
    const pool = openPool(opened, vgPool, options.runningPool);
    try {
      if (pool.running)
        throw new UsageError(
          `the kernel runs pool ${printable(pool.name)} from these disks (${pool.running}): shrink works only on a pool nothing runs. Deactivate it first (vgchange -an ${printable(pool.vg)})`,
        );
      const data = pool.data;
      if (!data) throw new UsageError(`pool ${printable(pool.name)}'s data LV is not all in the images: ${pool.dataProblem}`);
      const a = pool.scan.vgs.find((v) => v.vg.name === pool.vg && v.vg.id === pool.vgId);
      const assembled = must(a, `VG ${pool.vg} of the scan`);
      const seg = must(assembled.vg.lvs.get(pool.pool)?.segments[0], `pool ${pool.pool}'s segment`);
      const blockBytes = must(seg.chunkSize, `${seg.where}'s chunk_size`) * 512;
      const newNrBlocks = sizeInBlocks(sizeBytes, blockBytes);
      const extentBytes = assembled.vg.extentSize * 512;
      const fromExtents = data.size / extentBytes;
      const lvBlocks = Math.floor(data.size / blockBytes);
      if (newNrBlocks > lvBlocks)
        throw new UsageError(
          `--size ${sizeBytes} is larger than pool ${printable(pool.name)}'s data LV (${lvBlocks} data blocks, ${data.size} bytes): shrink only makes a pool smaller`,
        );
      const base = { vg: pool.vg, pool: pool.pool };
      const io = {
        metadata: pool.metadata,
        data,
        dataKnown: true,
        doctorCommand: must(pool.doctorCommand, `pool ${pool.name}'s doctor command`),
        openMetadata: () => new LvVolume(assembled.vg, pool.metadata.lv, assembled.pvs, `pool ${printable(pool.pool)}'s metadata LV`),
        openData: () => new LvVolume(assembled.vg, data.lv, assembled.pvs, `pool ${printable(pool.pool)}'s data LV`),
      };
      if (newNrBlocks === lvBlocks) {
        // The VG text already says the size: the metadata must too (it is committed first), else this is not a state a shrink leaves.
        const r = shrinkPool(io, sizeBytes, { ...options, dryRun: true });
        if (!r.alreadyShrunk)
          throw new UsageError(
            `pool ${printable(pool.name)}'s data LV is already ${lvBlocks} data blocks, but its metadata says ${r.oldNrBlocks}: the pool would not activate (the kernel refuses a data device smaller than its metadata says); run dmthin lvm doctor`,
          );
        // A text write stopped between two PVs' areas leaves some at the old seqno: finish it (only the areas that lack the newest text are written).
        const finish = writeVgText(opened, pool.vg, assembled.text, { checkOnly: options.dryRun, running: options.runningVg });
        const areas = finish.written.length;
        return {
          ...r,
          dryRun: options.dryRun === true,
          ...base,
          fromExtents,
          toExtents: fromExtents,
          freed: [],
          metadataAreas: areas,
          seqno: areas ? finish.seqno : undefined,
        };
      }
      // The sizes the pool may take: whole extents, and equal stripes where its data LV is striped (cutPoolData refuses the rest).
      const unitBlocks = extentUnitBlocks(blockBytes / 512, assembled.vg.extentSize);
      const roundUp = (blocks: number): number => {
        for (let k = Math.ceil(blocks / unitBlocks) * unitBlocks; k < lvBlocks; k += unitBlocks) {
          try {
            cutPoolData(assembled.text, pool.vg, pool.pool, k);
            return k;
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
          }
        }
        return lvBlocks;
      };
      let cut: ReturnType<typeof cutPoolData>;
      try {
        cut = cutPoolData(assembled.text, pool.vg, pool.pool, newNrBlocks);
      } catch (e) {
        // A size the VG cannot take: beside the nearest ones it can, the smallest the blocks in use fit in (the nearest may lie below it).
        if (!(e instanceof ArgumentError)) throw e;
        const least = smallestFit(pool.metadata, roundUp);
        throw least === undefined
          ? e
          : new ArgumentError(`${e.message}; the smallest that holds the blocks in use: --size ${least * blockBytes} (${least} data blocks)`);
      }
      // Every refusal the text's write would make, before a block moves.
      const planned = writeVgText(opened, pool.vg, cut.text, { checkOnly: true, running: options.runningVg });
      const striped = (assembled.vg.lvs.get(data.lv)?.segments ?? []).some((g) => g.areas.length > 1);
      const r = shrinkPool(io, sizeBytes, {
        ...options,
        sizeUnit: { roundUp, what: `whole ${extentBytes}-byte extents${striped ? ', split evenly among the stripes' : ''}` },
        deletedWords: removedLvWords(opened, pool.vg, pool.pool),
      });
      const shape = { ...base, fromExtents: cut.fromExtents, toExtents: cut.toExtents, freed: cut.freed, metadataAreas: planned.written.length };
      if (r.dryRun) return { ...r, ...shape };
      crashPoint('before-vg-text');
      const written = writeVgText(opened, pool.vg, cut.text, { running: options.runningVg });
      return { ...r, ...shape, seqno: written.seqno, metadataAreas: written.written.length };
    } finally {
      pool.close();
    }
  });
}

/** Deleted thin devices of VG/POOL as LVM names them (the removed LV, from LVM's history), and how to bring one back from these images. */
export function removedLvWords(opened: LvmImages, vg: string, pool: string): { nameOf: (id: number) => string | undefined; bringBack: string } {
  const paths = opened.paths.join(' ');
  // Read only when a refusal names them.
  const removed = () => opened.history().deleted.filter((d) => d.vg === vg && d.pool === pool);
  return {
    nameOf: (id) => {
      const lv = removed().find((d) => d.deviceId === id);
      return lv ? `removed LV ${printable(vg)}/${printable(lv.name)}` : undefined;
    },
    bringBack: `dmthin lvm export --deleted ${paths} VG/LV -o FILE brings one back by its name; dmthin lvm ls --deleted ${paths} lists them; docs/recovery.md`,
  };
}

/** The smallest size (data blocks, made one the pool may take by `roundUp`) its used blocks fit in; undefined when the metadata cannot say. */
function smallestFit(metadata: ByteSource, roundUp: (blocks: number) => number): number | undefined {
  try {
    const md = Metadata.open(metadata);
    try {
      return roundUp(planShrink(md, md.superblock.dataSpaceMapRoot.nrBlocks).minNrBlocks);
    } finally {
      md.close();
    }
  } catch {
    return undefined;
  }
}
