/**
 * An LV inside disk images, written in place: reads are LvSource's, writes
 * go through the same segment mapping (vg.ts mapLv) onto the PV images,
 * each opened read-write once. What `lvm shrink` moves a pool's data
 * blocks in and writes its new metadata into, without lvm2 or
 * device-mapper. The LV must be whole in the images (LvSource refuses
 * otherwise): a write to a PV no image holds could not be made.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { must } from '../errors.js';
import { fileError } from '../io/files.js';
import { writeFull } from '../io/full-io.js';
import { type WritableVolume, assertWithin } from '../io/volume.js';
import { LvSource, type PvLocations } from './lv-source.js';
import { type VolumeGroup, lvPvRuns, mapLv } from './vg.js';

export class LvVolume implements WritableVolume {
  readonly name: string;
  readonly size: number;
  private readonly source: LvSource;
  /** Image path -> a read-write descriptor. */
  private readonly fds = new Map<string, number>();

  constructor(
    private readonly vg: VolumeGroup,
    readonly lv: string,
    private readonly pvs: PvLocations,
    role?: string,
  ) {
    this.source = new LvSource(vg, lv, pvs, role);
    this.name = this.source.name;
    this.size = this.source.size;
    try {
      // Only the images the LV lies on: the others (a PV the pool does not use) are not opened for writing.
      for (const path of new Set(lvPvRuns(vg, lv).map((r) => must(pvs.get(r.pv), `the image of PV ${r.pv}`).file.path))) {
        try {
          this.fds.set(path, openSync(path, 'r+'));
        } catch (e) {
          throw fileError('write', path, e);
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  readAt(dst: Uint8Array, position: number): void {
    this.source.readAt(dst, position);
  }

  readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    return this.source.readAtAsync(dst, position);
  }

  writeAt(src: Uint8Array, position: number): void {
    assertWithin(this, position, src.length);
    let at = 0;
    for (const run of mapLv(this.vg, this.lv, position, src.length)) {
      const where = must(this.pvs.get(run.pv), `the image of PV ${run.pv}`);
      const fd = must(this.fds.get(where.file.path), `the descriptor of ${where.file.path}`);
      writeFull(fd, src.subarray(at, at + run.length), run.length, where.start + run.offset);
      at += run.length;
    }
  }

  sync(): void {
    for (const fd of this.fds.values()) fsyncSync(fd);
  }

  /** Closes the descriptors it opened (the scan's read-only images stay its opener's). */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
