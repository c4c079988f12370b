/**
 * An LV's bytes as a ByteSource: reads go through the LV's segments
 * (vg.ts mapLv) onto the PV images that hold them, so that every thin
 * command can read a pool's metadata LV inside disk images, and export
 * can read its data LV, without lvm2 or device-mapper.
 *
 * An LV is opened only when every byte of it is in the images given: each
 * PV it lies on found, and each of its runs on a PV inside that image. A
 * missing PV or a short image would otherwise read as zeros, which no
 * reader above could tell from data. The check walks segments, not stripes
 * (vg.ts lvPvRuns), and reads map only the bytes asked for.
 *
 * Opened `partial` (a disk gone for good), the bytes the images lack read
 * as zeros, and lostIn names them so that the caller reports every one.
 */
import { UsageError, must } from '../errors.js';
import { type ByteRange, addRange } from '../io/byte-range.js';
import type { ByteSource } from '../io/byte-source.js';
import { printable } from './printable.js';
import type { PvFile } from './pv.js';
import { type VolumeGroup, VgTextError, lvBytes, lvPvRuns, mapLv, pvIndex, unreadableLv } from './vg.js';

/**
 * Where each PV of the VG was found: the image, the PV's byte offset in it,
 * and its bytes there (a partition's size; when absent, the rest of the file).
 */
export type PvLocations = ReadonlyMap<string, { file: PvFile; start: number; size?: number }>;

/** An LV some of whose bytes the images do not hold: a PV of it missing, or an image shorter than its extents. */
export class LvNotAllThereError extends UsageError {
  /** The cause and the way on, as one line. */
  readonly detail: string;

  constructor(
    readonly vg: string,
    readonly lv: string,
    /** What is missing ("lin lies on pv1, which none of the images given holds (...)"). */
    readonly missing: string,
    /** What to do ("add the image holding that PV"). */
    readonly remedy: string,
  ) {
    super(`VG ${printable(vg)}: ${missing}: ${remedy}`);
    this.detail = `${missing}: ${remedy}`;
    this.name = 'LvNotAllThereError';
  }
}

/** The bytes of PV `key` the images hold (from its start). */
function heldBytes(where: { file: PvFile; start: number; size?: number }): number {
  return Math.max(0, Math.min(where.size ?? Number.POSITIVE_INFINITY, where.file.fileSize - where.start));
}

/** How many of `run`'s bytes, from its start, the images hold: all unless its PV is missing or its image short (only an LV opened partial meets that). */
function heldOfRun(pvs: PvLocations, run: { pv: string; offset: number; length: number }): number {
  const where = pvs.get(run.pv);
  return where ? Math.max(0, Math.min(run.length, heldBytes(where) - run.offset)) : 0;
}

/**
 * Why LV `lv` cannot be read whole from the images: a VgTextError for what
 * the VG text says (a defect, an unsupported segment type), an
 * LvNotAllThereError for what the images lack; undefined when it can.
 * `role` says what the LV is to the caller ("pool pool's data LV").
 */
export function lvNotReadable(vg: VolumeGroup, lv: string, pvs: PvLocations, role?: string): VgTextError | LvNotAllThereError | undefined {
  const why = unreadableLv(vg, lv);
  if (why) return new VgTextError(vg.name, role ? `${role} ${printable(lv)}: ${why}` : why);
  const name = role ? `${role} ${printable(lv)}` : printable(lv);
  const missing = new Set<string>();
  const short = new Map<string, number>();
  for (const run of lvPvRuns(vg, lv)) {
    const where = pvs.get(run.pv);
    if (!where) missing.add(run.pv);
    else if (run.to > heldBytes(where)) short.set(run.pv, Math.max(short.get(run.pv) ?? 0, run.to));
  }
  if (missing.size) {
    const [first, ...others] = [...missing].map((key) => {
      const ref = must(pvIndex(vg).get(key), `PV ${key} of VG ${vg.name}`);
      return { key: printable(key), about: `uuid ${printable(ref.id)}${ref.device ? `, last seen as ${printable(ref.device)}` : ''}` };
    });
    const more = others.map((o) => `${o.key} (${o.about})`).join(', ');
    return new LvNotAllThereError(
      vg.name,
      lv,
      `${name} lies on ${first.key}, which none of the images given holds (${first.about})${more ? `, and on ${more}, which none holds either` : ''}`,
      `add the image${more ? 's' : ''} holding ${more ? 'those PVs' : 'that PV'}`,
    );
  }
  if (short.size) {
    const which = [...short].map(([key, end]) => {
      const where = must(pvs.get(key), `the image of PV ${key}`);
      return `${printable(key)} in ${printable(where.file.path)}${where.start ? ` at byte ${where.start}` : ''} (its extents run to byte ${end} of the PV, the image holds ${heldBytes(where)})`;
    });
    return new LvNotAllThereError(vg.name, lv, `${name} lies past the end of ${which.join(', ')}`, 'the image is truncated, or a partial copy');
  }
  return undefined;
}

export class LvSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  /** Opened partial: why not all of the LV is there (the LvNotAllThereError's missing), or undefined when it is. */
  readonly notAllThere: string | undefined;
  /** Opened partial: what to do about it (the LvNotAllThereError's remedy). */
  readonly remedy: string | undefined;

  /**
   * `partial`: open even when some of the LV's bytes are in no image (they
   * read as zeros; lostIn says which); a defect of the VG text still throws.
   */
  constructor(
    private readonly vg: VolumeGroup,
    readonly lv: string,
    private readonly pvs: PvLocations,
    role?: string,
    partial = false,
  ) {
    const l = vg.lvs.get(lv);
    if (!l) throw new VgTextError(vg.name, `${role ? `${role} ` : ''}${printable(lv)} is not an LV of the VG`);
    // Every byte the LV's extents cover must be in the images; fail now, not mid-read.
    const why = lvNotReadable(vg, lv, pvs, role);
    if (why && !(partial && why instanceof LvNotAllThereError)) throw why;
    this.notAllThere = why instanceof LvNotAllThereError ? why.missing : undefined;
    this.remedy = why instanceof LvNotAllThereError ? why.remedy : undefined;
    this.size = lvBytes(vg, l);
    this.name = `${vg.name}/${lv}`;
  }

  /** The ranges of bytes [position, position + length) of the LV that no image holds (read as zeros), in order. */
  lostIn(position: number, length: number): ByteRange[] {
    const out: ByteRange[] = [];
    if (this.notAllThere === undefined) return out;
    let at = position;
    for (const run of mapLv(this.vg, this.lv, position, Math.max(0, Math.min(length, this.size - position)))) {
      const held = heldOfRun(this.pvs, run);
      if (held < run.length) addRange(out, at + held, at + run.length);
      at += run.length;
    }
    return out;
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
        const held = heldOfRun(this.pvs, run);
        if (held) {
          const where = must(this.pvs.get(run.pv), 'the image of a PV the run is held in');
          read(where.file.source, dst.subarray(at, at + held), where.start + run.offset);
        }
        dst.fill(0, at + held, at + run.length);
        at += run.length;
      }
    }
    dst.fill(0, at);
  }

  /** The PV files belong to whoever opened them. */
  close(): void {}
}
