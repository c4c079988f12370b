/**
 * `dmthin lvm export`: an LV's bytes from disk images, as the kernel would
 * read them through LVM. A thin LV is rebuilt from its pool's metadata and
 * data LVs (thin/export.ts, reading both in place through their segments);
 * a linear or striped LV is copied through its segments. To a file the
 * output is sparse.
 */
import { fstatSync, ftruncateSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { isZero, writeFull } from '../io/full-io.js';
import { type ExportResult, exportDevice } from '../thin/export.js';
import { Metadata } from '../thin/metadata.js';
import { LvSource } from './lv-source.js';
import { poolSources } from './open-pool.js';
import { printable } from './printable.js';
import { VgTextError, lvBytes } from './vg.js';
import { scanImages, splitVgLv, vgNamed } from './scan.js';

const CHUNK = 8 << 20;

export interface LvExportResult extends ExportResult {
  /** thin, or linear/striped. */
  kind: string;
}

export function exportLv(images: readonly string[], vgLv: string, outFd: number, onProgress?: (done: number, total: number) => void): LvExportResult {
  const { vg: vgName, lv: lvName } = splitVgLv(vgLv);
  const scan = scanImages(images);
  try {
    const a = vgNamed(scan, vgName, images);
    const lv = a.vg.lvs.get(lvName);
    if (!lv) throw new UsageError(`no LV ${printable(lvName)} in VG ${printable(vgName)}`);
    if (lv.defect) throw new VgTextError(a.vg.name, lv.defect);
    const size = lvBytes(a.vg, lv);
    const seg = lv.segments[0];
    if (seg?.type === 'thin') {
      const pool = poolSources(
        a,
        seg.thinPool ?? '',
        `${printable(vgLv)}'s pool ${printable(seg.thinPool ?? '')} is not a thin pool of VG ${printable(vgName)}`,
      );
      const md = Metadata.open(pool.metadata);
      try {
        return { kind: 'thin', ...exportDevice(md, pool.data, seg.deviceId!, outFd, { size, onProgress }) };
      } finally {
        md.close();
      }
    }
    if (lv.segments.length && !lv.segments.every((s) => s.type === 'striped')) {
      const other = lv.segments.find((s) => s.type !== 'striped')!;
      throw new UsageError(
        `${printable(vgLv)} is a ${printable(other.type || 'typeless')} LV: lvm export reads thin, linear and striped LVs${other.images?.length ? ` (each of its images, ${other.images.map(printable).join(', ')}, holds a whole copy and is exported on its own)` : ''}`,
      );
    }
    return { kind: 'linear', ...copySource(new LvSource(a.vg, lvName, a.pvs), outFd, onProgress) };
  } finally {
    scan.close();
  }
}

/** Copies a source to `outFd`: sparse to a file (all-zero chunks stay holes), in full to a stream. */
function copySource(src: LvSource, outFd: number, onProgress?: (done: number, total: number) => void): ExportResult {
  const seekable = fstatSync(outFd).isFile();
  if (seekable) ftruncateSync(outFd, src.size);
  const buf = new Uint8Array(CHUNK);
  const result: ExportResult = { size: src.size, mappedBytes: 0, zeroBytes: 0, runs: 0 };
  for (let at = 0; at < src.size; at += CHUNK) {
    const n = Math.min(CHUNK, src.size - at);
    const view = buf.subarray(0, n);
    src.readAt(view, at);
    result.mappedBytes += n;
    if (seekable && isZero(view, n)) result.zeroBytes += n;
    else writeFull(outFd, view, n, seekable ? at : null);
    onProgress?.(at + n, src.size);
  }
  return result;
}
