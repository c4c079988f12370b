/**
 * Every VG text still in the PVs' metadata areas. LVM writes each new
 * version of the VG text after the previous one in the area's circular
 * buffer (mda-header.ts) and moves the header's pointer; older versions
 * stay, whole or in part, until the buffer wraps round over them. They are
 * what an admin needs after an lvremove of the wrong LV: its device id,
 * pool, size and origin, and when it went.
 *
 * Only the committed text has a checksum. An older version is taken only
 * when it parses whole as VG text and models as a VG (a text partly
 * overwritten by a newer one breaks the grammar or repeats a section and is
 * dropped); it is marked "found in the buffer" wherever it is shown.
 */
import { UsageError, must } from '../errors.js';
import { type ConfigSection, ConfigSyntaxError, parseConfigText } from './config-text.js';
import { SECTOR_SIZE } from './label.js';
import { MDA_HEADER_SIZE } from './mda-header.js';
import type { FoundPv, PvFile } from './pv.js';
import type { LvmProblem, Scan } from './scan.js';
import { type LogicalVolume, type VolumeGroup, VgTextError, lvBytes, volumeGroup } from './vg.js';

export interface VgVersion {
  vg: VolumeGroup;
  /** The text as found. */
  text: string;
  /** creation_time: seconds since the epoch, when the text says. */
  time?: number;
  host?: string;
  /** LVM's own words: "Created *after* executing 'lvremove ...'". */
  description?: string;
  /** The area's committed text (its checksum held), or an older one found in the buffer. */
  committed: boolean;
  /** "FILE at byte N": where the text starts. */
  foundIn: string;
}

export interface VgChange {
  kind: 'lv_added' | 'lv_removed' | 'lv_changed';
  lv: string;
}

export interface DeletedThinLv {
  vg: string;
  name: string;
  deviceId: number;
  pool: string;
  /** Bytes (virtual size). */
  size: number;
  origin?: string;
  /** The newest version that still has it. */
  lastSeqno: number;
  /** ISO time of the first version without it, when that version says (`removed_at`: the output keeps lvm2's word). */
  removedAt?: string;
}

/** The newest deletion of thin LV VG/NAME the history records, or a UsageError naming the LVs it does record as deleted (in lvm2's word, removed). */
/** The newest removal of thin LV vg/name, or undefined when the history names none. */
export function findDeletion(h: History, vg: string, name: string): DeletedThinLv | undefined {
  return h.deleted.filter((r) => r.vg === vg && r.name === name).sort((a, b) => b.lastSeqno - a.lastSeqno)[0];
}

export function newestDeletion(h: History, vg: string, name: string): DeletedThinLv {
  const found = findDeletion(h, vg, name);
  if (found) return found;
  const names = h.deleted.filter((r) => r.vg === vg).map((r) => r.name);
  throw new UsageError(
    `LVM's history in the images names no removed thin LV ${vg}/${name}${names.length ? ` (removed: ${names.join(', ')})` : ''}; see dmthin lvm history`,
  );
}

/** The newest version of `vg` that still has thin LV `name` (its text holds the LV's section). */
export function lastVersionWith(h: History, vg: string, name: string): VgVersion | undefined {
  return [...h.versions].reverse().find((v) => v.vg.name === vg && v.vg.lvs.has(name));
}

export interface History {
  /** Every version found, by VG then seqno (one copy per seqno). */
  versions: Array<VgVersion & { changes: VgChange[] }>;
  /** Thin LVs an older version has and the newest has not (lvremove'd; the output calls them removed, as lvm2 does). */
  deleted: DeletedThinLv[];
  problems: LvmProblem[];
}

const MARKER = Buffer.from(' {\nid = "', 'latin1');
const NAME_ONLY = /^[A-Za-z0-9+_.-]+$/;

/**
 * The VG texts in each metadata area of `pv`, committed or not. LVM
 * writes each text at a 512-byte boundary of the disk, after the last
 * (lib/format_text: the next offset is aligned), beginning "NAME {\nid =
 * \"" and ending at a NUL; its ring texts have no indentation, so nested
 * sections look the same and only the alignment tells a start. Linear in
 * the area, whatever it holds: one candidate a 512-byte boundary, each
 * parsed in place without a copy and refused at its second top-level
 * section, so that it costs at most its own section, and a byte lies in
 * at most MAX_SECTION_DEPTH of those. Only a text that parses whole is
 * decoded.
 */
export function vgVersionsIn(f: PvFile, pv: FoundPv): VgVersion[] {
  const out: VgVersion[] = [];
  for (const m of pv.metadataAreas) {
    if (!m.header) continue;
    const areaStart = pv.start + m.area.offset;
    const ringSize = m.header.size - MDA_HEADER_SIZE;
    if (ringSize <= 0) continue;
    const ring = Buffer.from(f.read(areaStart + MDA_HEADER_SIZE, ringSize, 'metadata area ring'));
    // Twice round, so that a text (or its first line) that wraps reads straight on.
    const twice = Buffer.concat([ring, ring]);
    const chars = twice.toString('latin1');
    const committedAt = m.header.locns[0] ? m.header.locns[0].offset - MDA_HEADER_SIZE : -1;
    let nul = -1;
    for (let at = twice.indexOf(MARKER); at >= 0 && at < ringSize + MARKER.length; at = twice.indexOf(MARKER, at + 1)) {
      if (nul < at) nul = twice.indexOf(0, at);
      if (nul < 0) break; // no NUL ends a text from here on
      // The text starts at the 512-byte boundary before its name (the byte before it is an older text's, not its name's).
      const start = at - ((m.area.offset + MDA_HEADER_SIZE + (at % ringSize)) % SECTOR_SIZE);
      if (start < 0 || start === at || at - start > 128 || !NAME_ONLY.test(chars.slice(start, at))) continue;
      const s = start % ringSize;
      if (nul - start > ringSize || !parsesWhole(chars, start, nul)) continue;
      const version = parseVersion(twice.subarray(start, nul).toString('utf8'));
      if (!version) continue;
      out.push({ ...version, committed: s === committedAt && m.text !== undefined, foundIn: `${f.path} at byte ${areaStart + MDA_HEADER_SIZE + s}` });
    }
  }
  return out;
}

/** Whether chars[from, to) parses as one VG text's grammar (a partly overwritten one does not). */
function parsesWhole(chars: string, from: number, to: number): boolean {
  try {
    parseConfigText(chars, { from, to, oneSection: true });
    return true;
  } catch (e) {
    if (e instanceof ConfigSyntaxError) return false;
    throw e;
  }
}

/** Seconds since the epoch a Date can hold (±8.64e15 ms). */
const MAX_TIME = 8.64e12;

function parseVersion(text: string): Omit<VgVersion, 'committed' | 'foundIn'> | undefined {
  let top: ConfigSection;
  let vg: VolumeGroup;
  try {
    top = parseConfigText(text);
    const name = top.order.find((n) => top.sections.has(n));
    if (!name) return undefined;
    vg = volumeGroup(must(top.sections.get(name), `section ${name}`));
  } catch (e) {
    if (e instanceof ConfigSyntaxError || e instanceof VgTextError) return undefined; // partly overwritten: not a version
    throw e;
  }
  // A creation_time no date can hold is not a time (an older text's field, damaged): left out, not shown as a date.
  const time = top.number('creation_time');
  return {
    vg,
    text,
    time: time !== undefined && Math.abs(time) <= MAX_TIME ? time : undefined,
    host: top.string('creation_host'),
    description: top.string('description'),
  };
}

/**
 * The history `scan`'s metadata areas hold: every version of every VG, what
 * changed between them, and the thin LVs deleted (images.ts reads it once
 * for a set of images: lvmHistory). Its problems are the scan's.
 */
export function historyOf(scan: Scan): History {
  const byKey = new Map<string, VgVersion>();
  for (const pv of scan.pvs) {
    const f = must(
      scan.files.find((x) => x.path === pv.file),
      `the image of ${pv.file}`,
    );
    for (const v of vgVersionsIn(f, pv)) {
      const key = `${v.vg.id || v.vg.name}\0${v.vg.seqno}`;
      const seen = byKey.get(key);
      if (!seen || (v.committed && !seen.committed)) byKey.set(key, v);
    }
  }
  const all = [...byKey.values()].sort((a, b) => a.vg.name.localeCompare(b.vg.name) || a.vg.seqno - b.vg.seqno);
  const versions: History['versions'] = [];
  const deleted: DeletedThinLv[] = [];
  const ids = [...new Set(all.map((v) => v.vg.id || v.vg.name))];
  for (const id of ids) {
    const mine = all.filter((v) => (v.vg.id || v.vg.name) === id);
    for (const [i, v] of mine.entries()) versions.push({ ...v, changes: i === 0 ? [] : changesBetween(mine[i - 1].vg, v.vg) });
    deleted.push(...deletedThins(mine));
  }
  // A copy: the verbs sharing the scan add problems of their own to theirs.
  return { versions, deleted, problems: [...scan.problems] };
}

function changesBetween(a: VolumeGroup, b: VolumeGroup): VgChange[] {
  const out: VgChange[] = [];
  for (const name of a.lvs.keys()) if (!b.lvs.has(name)) out.push({ kind: 'lv_removed', lv: name });
  for (const [name, lv] of b.lvs) {
    const before = a.lvs.get(name);
    if (!before) out.push({ kind: 'lv_added', lv: name });
    else if (lvShape(before) !== lvShape(lv)) out.push({ kind: 'lv_changed', lv: name });
  }
  return out;
}

/**
 * What an LV is, without where its text lies: each segment's `where` and a
 * defect's "(line N)" move whenever an LV before it is added or removed, and
 * would mark every LV after it as changed.
 */
function lvShape(lv: LogicalVolume): string {
  return JSON.stringify(lv, (key, value) =>
    key === 'where' ? undefined : key === 'defect' && typeof value === 'string' ? value.replace(/ \(line \d+\)/g, '') : value,
  );
}

const isThin = (lv: LogicalVolume): boolean => lv.segments[0]?.type === 'thin';

/**
 * Thin LVs some older version has and the newest has not. One renamed (its
 * device id still held by a thin LV of the same pool) is not deleted.
 */
function deletedThins(versions: readonly VgVersion[]): DeletedThinLv[] {
  const newest = versions[versions.length - 1].vg;
  const live = new Set([...newest.lvs.values()].filter(isThin).map((l) => `${l.segments[0].thinPool}\0${l.segments[0].deviceId}`));
  const last = new Map<string, { v: VgVersion; lv: LogicalVolume; next?: VgVersion }>();
  versions.forEach((v, i) => {
    for (const lv of v.vg.lvs.values()) {
      if (!isThin(lv)) continue;
      const seg = lv.segments[0];
      if (live.has(`${seg.thinPool}\0${seg.deviceId}`)) continue;
      last.set(`${lv.name}\0${seg.deviceId}`, { v, lv, next: versions[i + 1] });
    }
  });
  return [...last.values()].map(({ v, lv, next }) => {
    const seg = lv.segments[0];
    const r: DeletedThinLv = {
      vg: v.vg.name,
      name: lv.name,
      deviceId: must(seg.deviceId, `${seg.where}'s device_id`),
      pool: seg.thinPool ?? '',
      size: lvBytes(v.vg, lv),
      lastSeqno: v.vg.seqno,
    };
    if (seg.origin) r.origin = seg.origin;
    if (next?.time !== undefined) r.removedAt = new Date(next.time * 1000).toISOString();
    return r;
  });
}
