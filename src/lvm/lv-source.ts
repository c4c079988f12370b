/**
 * An LV's bytes as a ByteSource: reads go through the LV's segments
 * (vg.ts mapLv) onto the PV images that hold them, so that every thin
 * command can read a pool's metadata LV inside disk images, and export
 * can read its data LV, without lvm2 or device-mapper.
 */
import type { ByteSource } from '../io/byte-source.js';
import type { PvFile } from './pv.js';
import { type VolumeGroup, VgTextError, lvBytes, mapLv } from './vg.js';

/** Where each PV of the VG was found: the image and the PV's byte offset in it. */
export type PvLocations = ReadonlyMap<string, { file: PvFile; start: number }>;

export class LvSource implements ByteSource {
  readonly name: string;
  readonly size: number;

  constructor(
    private readonly vg: VolumeGroup,
    readonly lv: string,
    private readonly pvs: PvLocations,
  ) {
    const l = vg.lvs.get(lv);
    if (!l) throw new VgTextError(vg.name, `no LV ${lv}`);
    this.size = lvBytes(vg, l);
    this.name = `${vg.name}/${lv}`;
    // Every PV the LV's extents lie on must have been found; fail now, not mid-read.
    for (const run of mapLv(vg, lv, 0, this.size)) {
      if (!pvs.has(run.pv)) throw new VgTextError(vg.name, `${lv} lies on ${run.pv}, which none of the images given holds`);
    }
  }

  readAt(dst: Uint8Array, position: number): void {
    const inside = Math.max(0, Math.min(dst.length, this.size - position));
    let at = 0;
    if (inside > 0) {
      for (const run of mapLv(this.vg, this.lv, position, inside)) {
        const where = this.pvs.get(run.pv)!;
        where.file.source.readAt(dst.subarray(at, at + run.length), where.start + run.offset);
        at += run.length;
      }
    }
    dst.fill(0, at);
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    const inside = Math.max(0, Math.min(dst.length, this.size - position));
    const reads: Promise<void>[] = [];
    let at = 0;
    if (inside > 0) {
      for (const run of mapLv(this.vg, this.lv, position, inside)) {
        const where = this.pvs.get(run.pv)!;
        reads.push(where.file.source.readAtAsync(dst.subarray(at, at + run.length), where.start + run.offset));
        at += run.length;
      }
    }
    dst.fill(0, at);
    await Promise.all(reads);
  }

  /** The PV files belong to whoever opened them. */
  close(): void {}
}
