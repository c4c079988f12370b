/**
 * `dmthin lvm export`: an LV's bytes from disk images, as the kernel would
 * read them through LVM. A thin LV is rebuilt from its pool's metadata and
 * data LVs (thin/export.ts, reading both in place through their segments);
 * a linear or striped LV is copied through its segments. To a file the
 * output is sparse.
 *
 * `partial` is for a disk gone for good: what the remaining PVs hold is
 * written, the bytes that lay on the missing one as zeros, and the result
 * lists them (lost). A thin LV's pool must still have its whole metadata LV:
 * without its mappings no byte of the data LV can be placed.
 *
 * A thin LV of a pool the kernel runs from these images is refused: its
 * metadata and data change while they are read (the way on is lvm send,
 * which reads it through the kernel).
 */
import { fstatSync, ftruncateSync } from 'node:fs';
import { UsageError, must } from '../errors.js';
import { isZero, writeFull } from '../io/full-io.js';
import { withOutput } from '../io/output-file.js';
import { type ExportResult, exportDevice } from '../thin/export.js';
import { Metadata } from '../thin/metadata.js';
import { type ByteRange, addRange } from '../io/byte-range.js';
import { LvNotAllThereError, LvSource } from './lv-source.js';
import { poolSources } from './open-pool.js';
import { withDoctorAdvice as withDamage } from '../thin/damage.js';
import { printable } from './printable.js';
import { type RunningProbe, runningPool } from './running.js';
import { type LogicalVolume, type Segment, type VolumeGroup, VgTextError, lvBytes, lvType } from './vg.js';
import { type ImageSet, withImages } from './images.js';
import { type AssembledVg, splitVgLv, vgNamed, whichLvs } from './scan.js';

const CHUNK = 8 << 20;

export interface LvExportResult extends ExportResult {
  /** thin, linear or striped, as lvs names the LV's segment type. */
  kind: string;
  /** With partial: why not all of the LV's bytes were there (which PV is missing, which image short); undefined when all were. */
  notAllThere?: string;
}

export interface LvExportOptions {
  /** Write what the images hold when a PV is missing or an image short, the rest as zeros, listed in the result's lost. */
  partial?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Whether the kernel runs the LV's pool from the images (default: sysfs says, runningPool). */
  running?: RunningProbe;
}

/** The way on when an LV is not all there and partial was not asked for. */
const PARTIAL_HINT = '; if the missing bytes cannot be had, --partial writes what the images hold, the missing bytes as zeros, and lists them';

/** `src` opened partial, refused unless partial was asked for when some of it is not there. */
function whole(src: LvSource, vg: string, partial: boolean): LvSource {
  if (src.notAllThere !== undefined && !partial) throw new LvNotAllThereError(vg, src.lv, src.notAllThere, src.remedy + PARTIAL_HINT);
  return src;
}

/**
 * Writes VG/LV from `images` to `output`: a descriptor the caller opened, or
 * a path (- for standard output) opened here through withOutput once the VG
 * is found and the LV's pool is not one the kernel runs (nothing is
 * written, nor a terminal or FIFO opened, before that is known).
 */
export function exportLv(
  images: ImageSet,
  vgLv: string,
  output: number | string,
  { partial = false, onProgress, running = runningPool }: LvExportOptions = {},
): LvExportResult {
  const { vg: vgName, lv: lvName } = splitVgLv(vgLv);
  return withImages(images, (opened) => {
    const paths = opened.paths;
    const a = vgNamed(opened.scan, vgName, paths);
    const lv = a.vg.lvs.get(lvName);
    refuseRunning(lv?.segments[0], { vg: vgName, vgId: a.vg.id }, paths, vgLv, output, running);
    return withImageOutput(output, paths, (outFd) => exportFound(a, paths, vgLv, lv, outFd, partial, onProgress));
  });
}

/** Runs `body` on `output`: a descriptor as it is, a path through withOutput (written beside, renamed when complete). */
export function withImageOutput<T>(output: number | string, images: readonly string[], body: (fd: number) => T): T {
  if (typeof output === 'number') return body(output);
  return withOutput(output, { inputs: images, binary: true, what: 'image' }, (out) => body(out.fd));
}

/** The export of LV `lv` (undefined: not in the VG) of assembled VG `a` to `outFd`. */
function exportFound(
  a: AssembledVg,
  images: readonly string[],
  vgLv: string,
  lv: LogicalVolume | undefined,
  outFd: number,
  partial: boolean,
  onProgress: ((done: number, total: number) => void) | undefined,
): LvExportResult {
  const { vg: vgName, lv: lvName } = splitVgLv(vgLv);
  if (!lv) throw new UsageError(`no LV ${printable(lvName)} in VG ${printable(vgName)} (${whichLvs(a.vg, images, () => true)})`);
  if (lv.defect) throw new VgTextError(a.vg.name, lv.defect);
  const size = lvBytes(a.vg, lv);
  const seg = lv.segments[0];
  if (seg?.type === 'thin') {
    const pool = poolSources(
      a,
      seg.thinPool ?? '',
      `${printable(vgLv)}'s pool ${printable(seg.thinPool ?? '')} is not a thin pool of VG ${printable(vgName)}`,
      true,
    );
    const data = whole(pool.data, a.vg.name, partial);
    const vgPool = `${a.vg.name}/${seg.thinPool ?? ''}`;
    const doctor = `dmthin lvm doctor ${images.join(' ')} ${vgPool}`;
    const md = withDamage(vgPool, doctor, () => Metadata.open(pool.metadata));
    try {
      const lostIn = data.notAllThere === undefined ? undefined : (at: number, n: number) => data.lostIn(at, n);
      const r = withDamage(vgPool, doctor, () => exportDevice(md, data, must(seg.deviceId, `${seg.where}'s device_id`), outFd, { size, onProgress, lostIn }));
      if (r.damage) r.damage.doctor = doctor;
      return { kind: 'thin', ...r, ...(partial ? { lost: r.lost ?? [], notAllThere: data.notAllThere } : {}) };
    } finally {
      md.close();
    }
  }
  const other = lv.segments.find((s) => s.type !== 'striped');
  if (other) {
    throw new UsageError(
      `${printable(vgLv)} is a ${printable(other.type || 'typeless')} LV: lvm export reads thin, linear and striped LVs${other.images?.length ? ` (each of its images, ${other.images.map(printable).join(', ')}, holds a whole copy and is exported on its own)` : ''}${other.type === 'thin-pool' ? poolWayOn(a.vg, lvName, other) : ''}`,
    );
  }
  const src = whole(new LvSource(a.vg, lvName, a.pvs, undefined, true), a.vg.name, partial);
  const { lost, ...r } = copySource(src, outFd, onProgress);
  return { kind: lvType(lv), ...r, ...(partial ? { lost, notAllThere: src.notAllThere } : {}) };
}

/** A thin LV (segment `seg`) of a pool the kernel runs from `images` is refused, with the way on: send it through the kernel. */
function refuseRunning(
  seg: Segment | undefined,
  vg: { vg: string; vgId: string },
  images: readonly string[],
  vgLv: string,
  output: number | string,
  running: RunningProbe,
): void {
  if (seg?.type !== 'thin') return;
  const pool = seg.thinPool ?? '';
  const live = running({ ...vg, pool }, images);
  if (!live) return;
  throw new UsageError(
    `${vgLv} is a thin LV of ${printable(vg.vg)}/${printable(pool)}, which the kernel runs from these disks (${live}): its metadata and data change while they are read. ` +
      `Send it through the kernel instead: dmthin lvm send ${images.join(' ')} ${vgLv} -o - | dmthin receive -i - -o ${typeof output === 'number' || output === '-' ? 'IMAGE' : output}`,
  );
}

/** For a thin pool asked for as a whole: what can be exported of it instead, by name. */
function poolWayOn(vg: VolumeGroup, pool: string, seg: Segment): string {
  const thins = [...vg.lvs.values()].filter((l) => l.segments[0]?.type === 'thin' && l.segments[0].thinPool === pool).map((l) => printable(l.name));
  const parts = [seg.metadataLv, seg.dataLv].filter((x): x is string => x !== undefined).map((n) => `${printable(vg.name)}/${printable(n)}`);
  return `; export its thin LVs one by one${thins.length ? ` (${thins.join(', ')})` : ''}${parts.length ? `, or its hidden metadata and data LVs as they are: ${parts.join(' and ')}` : ''}`;
}

/** Copies a source to `outFd`: sparse to a file (all-zero chunks stay holes), in full to a stream. */
function copySource(src: LvSource, outFd: number, onProgress?: (done: number, total: number) => void): ExportResult {
  const seekable = fstatSync(outFd).isFile();
  if (seekable) ftruncateSync(outFd, src.size);
  const buf = new Uint8Array(CHUNK);
  const lost: ByteRange[] = [];
  const result: ExportResult = { size: src.size, mappedBytes: 0, zeroBytes: 0, runs: 0, lost };
  for (let at = 0; at < src.size; at += CHUNK) {
    const n = Math.min(CHUNK, src.size - at);
    const view = buf.subarray(0, n);
    src.readAt(view, at);
    for (const l of src.lostIn(at, n)) addRange(lost, l.from, l.to);
    result.mappedBytes += n;
    if (seekable && isZero(view, n)) result.zeroBytes += n;
    else writeFull(outFd, view, n, seekable ? at : null);
    onProgress?.(at + n, src.size);
  }
  return result;
}
