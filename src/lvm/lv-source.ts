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
    this.pieces(dst, position, (source, piece, at) => source.readAt(piece, at));
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    const reads: Promise<void>[] = [];
    this.pieces(dst, position, (source, piece, at) => reads.push(source.readAtAsync(piece, at)));
    await Promise.all(reads);
  }

  /** Cuts `dst` (bytes from `position` of the LV) into the pieces on each PV, giving each to `read`; past the LV's end, zeros. */
  private pieces(dst: Uint8Array, position: number, read: (source: ByteSource, piece: Uint8Array, at: number) => void): void {
    const inside = Math.max(0, Math.min(dst.length, this.size - position));
    let at = 0;
    if (inside > 0) {
      for (const run of mapLv(this.vg, this.lv, position, inside)) {
        const where = this.pvs.get(run.pv)!;
        read(where.file.source, dst.subarray(at, at + run.length), where.start + run.offset);
        at += run.length;
      }
    }
    dst.fill(0, at);
  }

  /** The PV files belong to whoever opened them. */
  close(): void {}
}
