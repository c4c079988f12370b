/**
 * Writes a new version of a VG's text into every metadata area of the VG's
 * PVs, as lvm2's vg_write and vg_commit do (lib/format_text/format-text.c
 * _vg_write_raw, _next_rlocn_offset, _vg_commit_raw_rlocn):
 *
 * - the text goes into the area's circular buffer after the committed one,
 *   at the next 512-byte boundary of the area (a whole 512 bytes on when
 *   the old text ends exactly on one), or back at the ring's start when
 *   less than 512 bytes of the area remain; a text running past the end
 *   continues at the ring's start (mda-header.ts);
 * - no text may exceed half the ring less a sector (lvm2's max_size), so
 *   that the new text never overlaps the committed one it follows;
 * - each area's header is written last: raw_locn slot 0 the new text
 *   (offset, size with its NUL, checksum), slot 1 cleared, the header's
 *   own checksum. That sector is the commit of its area.
 *
 * lvm2 also writes slot 1 (precommit) before slot 0; only its own
 * suspend/resume reads it, and commit clears it again, so it is not
 * written here. Ignored areas (pvchange --metadataignore) are left alone:
 * lvm2 keeps them off its list of areas in use and writes no text there.
 *
 * Crash safety: every text is written and synced before any header. A run
 * stopped between two headers leaves some areas at seqno N + 1 and some at
 * N; lvm2 reads every area, takes the highest seqno whose header and text
 * checksum (lib/metadata/metadata.c _vg_read: "ignoring old metadata
 * seqno"), and its next write of the VG brings the others level. Running
 * the same write again does so too: a text equal to the newest committed
 * one is written only into the areas that lack it.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { ArgumentError, UsageError, must } from '../errors.js';
import { fileError, sameFile } from '../io/files.js';
import { writeFull } from '../io/full-io.js';
import { ConfigSyntaxError, parseConfigText } from './config-text.js';
import { lvmCrc } from './crc.js';
import type { LvmImages } from './images.js';
import { dashedUuid } from './label.js';
import { MDA_HEADER_SIZE, type MdaHeader, type RawLocn, textExtents, writeMdaHeader } from './mda-header.js';
import { printable } from './printable.js';
import { type VgRunningProbe, runningVg } from './running.js';
import { vgNamed } from './scan.js';
import { VgTextError, volumeGroup } from './vg.js';

/** lvm2's MDA_ORIGINAL_ALIGNMENT: each text starts on a 512-byte boundary of its area. */
const TEXT_ALIGNMENT = 512;

/** One metadata area written (or to be). */
export interface AreaWrite {
  file: string;
  /** Byte of the area in the file. */
  areaStart: number;
  /** The new text's place in the area (from its start) and its size with the NUL. */
  locn: RawLocn;
  /** Whether the text runs past the ring's end and on at its start. */
  wrapped: boolean;
}

export interface VgWriteResult {
  vg: string;
  seqno: number;
  written: AreaWrite[];
  /** Areas left as they are: ignored ones, and ones that already hold this text (a run finished again). */
  skipped: Array<{ file: string; areaStart: number; why: 'ignored' | 'already_written' }>;
}

export interface WriteVgOptions {
  /** Whether the kernel runs an LV of the VG from the images (default: sysfs says). */
  running?: VgRunningProbe;
  /** Make every refusal and plan every area, but write nothing: a caller about to change the LVs first learns the text can follow. */
  checkOnly?: boolean;
  /** Tests: called after each write that reaches the disk (texts, then headers), to stop a run there. */
  afterWrite?: (step: { kind: 'text' | 'header'; file: string; areaStart: number }) => void;
}

/**
 * Where lvm2 puts the text that follows `old` (slot 0; undefined when the
 * area holds none, or is ignored) in an area of `areaSize` bytes.
 */
export function nextTextOffset(old: RawLocn | undefined, areaSize: number): number {
  if (!old) return MDA_HEADER_SIZE;
  // The old text's last byte, from the area's start (past the wrap when it wraps).
  const end = old.offset + old.size;
  const last = end > areaSize ? end - areaSize + MDA_HEADER_SIZE - 1 : end - 1;
  if (areaSize - last < TEXT_ALIGNMENT) return MDA_HEADER_SIZE;
  const next = last + 1;
  const start = next + (TEXT_ALIGNMENT - (next % TEXT_ALIGNMENT));
  return start > areaSize - TEXT_ALIGNMENT ? MDA_HEADER_SIZE : start;
}

/** The most text (NUL included) lvm2 writes into an area of `areaSize` bytes: two copies must fit its ring, each from a sector boundary. */
export function maxTextSize(areaSize: number): number {
  return Math.floor((areaSize - MDA_HEADER_SIZE) / 2) - 512;
}

/** Whether two texts placed in one area share a byte. */
function overlaps(a: RawLocn, b: RawLocn, areaSize: number): boolean {
  for (const x of textExtents(a.offset, a.size, areaSize))
    for (const y of textExtents(b.offset, b.size, areaSize)) if (x.offset < y.offset + y.size && y.offset < x.offset + x.size) return true;
  return false;
}

interface Planned extends AreaWrite {
  header: MdaHeader;
}

/**
 * Writes `text` as the next version of VG `vgName` into every metadata area
 * of its PVs in `images`. The text must model the same VG (its uuid) at the
 * seqno after the newest the images hold; or be that newest text itself,
 * to finish a write that stopped part way. Refuses, with nothing written:
 * an image given twice (or one PV in two images), a PV of the VG missing, a
 * VG the kernel runs, an area whose header cannot be read, a text too large
 * for an area.
 */
export function writeVgText(images: LvmImages, vgName: string, text: string, options: WriteVgOptions = {}): VgWriteResult {
  const paths = images.paths;
  for (let i = 0; i < paths.length; i++)
    for (let j = i + 1; j < paths.length; j++)
      if (paths[i] === paths[j] || sameFile(paths[i], paths[j]))
        throw new ArgumentError(`${paths[i]} and ${paths[j]} are the same image, given twice: give each PV's image once`);
  const scan = images.scan;
  const a = vgNamed(scan, vgName, paths);
  if (a.missing.length > 0)
    throw new UsageError(
      `not writing VG ${printable(vgName)}'s text: its PV ${a.missing.map(printable).join(', ')} is in none of the images, and would keep the old text: give every PV's image`,
    );
  const pvs = scan.pvs.filter((p) => a.vg.pvs.some((r) => r.id === dashedUuid(p.label.uuid)));
  for (const r of a.vg.pvs) {
    const found = pvs.filter((p) => dashedUuid(p.label.uuid) === r.id);
    if (found.length > 1)
      throw new UsageError(
        `PV ${printable(r.key)} (${printable(r.id)}) is in ${found.map((p) => `${p.file} at byte ${p.start}`).join(' and ')}: copies of one PV; give only the one to write`,
      );
  }
  const live = (options.running ?? runningVg)({ vg: a.vg.name, vgId: a.vg.id }, paths);
  if (live)
    throw new UsageError(
      `the kernel runs LVs of VG ${printable(vgName)} from these disks (${live}): lvm2 would write its own text over this one. Deactivate the VG first (vgchange -an ${printable(vgName)})`,
    );

  const seqno = newSeqno(text, a.vg.name, a.vg.id, a.vg.seqno);
  const finishing = seqno === a.vg.seqno;
  if (finishing && text !== a.text)
    throw new ArgumentError(
      `the new VG text has seqno ${seqno}, which the images already hold with another text: the next seqno is ${seqno + 1}: not writing it`,
    );
  if (text.includes('\0')) throw new ArgumentError('the new VG text holds a NUL byte: LVM ends its text there');
  const bytes = Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
  const checksum = lvmCrc(bytes);

  const planned: Planned[] = [];
  const skipped: VgWriteResult['skipped'] = [];
  for (const pv of pvs) {
    for (const m of pv.metadataAreas) {
      const areaStart = pv.start + m.area.offset;
      const where = `${pv.file} metadata area at byte ${areaStart}`;
      if (m.ignored) {
        skipped.push({ file: pv.file, areaStart, why: 'ignored' });
        continue;
      }
      if (m.problem || !m.header) throw new UsageError(`not writing VG ${printable(vgName)}'s text: ${m.problem ?? `${where}: no header`}`);
      const h = m.header;
      if (finishing && m.text === text) {
        skipped.push({ file: pv.file, areaStart, why: 'already_written' });
        continue;
      }
      const max = maxTextSize(h.size);
      if (bytes.length > max)
        throw new UsageError(
          `not writing VG ${printable(vgName)}'s text: ${where} is ${h.size} bytes, room for a text of ${Math.max(0, max)} (half its ring less a sector, as lvm2 keeps the old text whole); the new text is ${bytes.length}`,
        );
      const old = h.locns[0] && (h.locns[0].offset !== 0 || h.locns[0].size !== 0) ? h.locns[0] : undefined;
      const locn: RawLocn = { offset: nextTextOffset(old, h.size), size: bytes.length, checksum, flags: 0 };
      if (old && overlaps(old, locn, h.size)) throw new Error(`the new text at byte ${locn.offset} of ${where} would overlap the committed one`);
      planned.push({ file: pv.file, areaStart, locn, wrapped: locn.offset + locn.size > h.size, header: h });
    }
  }
  if (planned.length === 0 && !skipped.some((s) => s.why === 'already_written'))
    throw new UsageError(`not writing VG ${printable(vgName)}'s text: none of its PVs has a metadata area in use`);
  if (options.checkOnly) return { vg: a.vg.name, seqno, written: planned.map(({ header: _h, ...w }) => w), skipped };

  const fds = new Map<string, number>();
  try {
    for (const f of new Set(planned.map((p) => p.file))) {
      try {
        fds.set(f, openSync(f, 'r+'));
      } catch (e) {
        throw fileError('write', f, e);
      }
    }
    const fd = (f: string): number => must(fds.get(f), `the descriptor of ${f}`);
    // Every text first, on disk, before any header names it.
    for (const p of planned) {
      let at = 0;
      for (const part of textExtents(p.locn.offset, p.locn.size, p.header.size)) {
        writeFull(fd(p.file), bytes.subarray(at, at + part.size), part.size, p.areaStart + part.offset);
        at += part.size;
      }
    }
    for (const f of fds.keys()) fsyncSync(fd(f));
    for (const p of planned) options.afterWrite?.({ kind: 'text', file: p.file, areaStart: p.areaStart });
    // Then each header: the commit of its area.
    for (const p of planned) {
      const header = writeMdaHeader({ version: p.header.version, start: p.header.start, size: p.header.size, locns: [p.locn] });
      writeFull(fd(p.file), header, header.length, p.areaStart);
      fsyncSync(fd(p.file));
      options.afterWrite?.({ kind: 'header', file: p.file, areaStart: p.areaStart });
    }
  } finally {
    for (const f of fds.values()) closeSync(f);
  }
  return { vg: a.vg.name, seqno, written: planned.map(({ header: _h, ...w }) => w), skipped };
}

/** The new text's seqno, checked: the same VG (by uuid), at the seqno after `current` (or at it, to finish a write). */
function newSeqno(text: string, name: string, id: string, current: number): number {
  let vg: ReturnType<typeof volumeGroup>;
  try {
    const top = parseConfigText(text, { oneSection: true });
    const s = top.section(name);
    if (!s) throw new ArgumentError(`the new VG text has no section ${printable(name)}: not writing it`);
    vg = volumeGroup(s);
  } catch (e) {
    if (e instanceof ConfigSyntaxError || e instanceof VgTextError) throw new ArgumentError(`the new VG text cannot be read (${e.message}): not writing it`);
    throw e;
  }
  if (vg.id !== id)
    throw new ArgumentError(`the new VG text is of VG id ${printable(vg.id)}, the images' ${printable(name)} is ${printable(id)}: not writing it`);
  if (vg.seqno !== current + 1 && vg.seqno !== current)
    throw new ArgumentError(`the new VG text has seqno ${vg.seqno}; the images' newest is ${current}, so the next is ${current + 1}: not writing it`);
  return vg.seqno;
}
