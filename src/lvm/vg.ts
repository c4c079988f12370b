/**
 * The volume group a VG text describes (lib/format_text/import_vsn1.c):
 * its PVs and extent size, and each LV as segments. Striped segments
 * (linear is one stripe) map an LV's extents onto PVs or onto another LV's
 * extents; thin-pool and thin segments carry the pool's and the thin LV's
 * fields. Other segment types are kept by name, so that only the LVs that
 * need them are refused.
 */
import { UsageError, must } from '../errors.js';
import type { ConfigScalar, ConfigSection, ConfigValue } from './config-text.js';
import { printable } from './printable.js';

export interface PvRef {
  /** The key in physical_volumes ("pv0"). */
  key: string;
  /** Dashed uuid, as the label's (label.ts dashedUuid). */
  id: string;
  /** The device LVM last saw it on: a hint only. */
  device?: string;
  /** Sectors. */
  peStart: number;
  peCount: number;
  /** Why its pe_start or pe_count cannot be used: the LVs on it are refused. */
  defect?: string;
}

/** A run of extents on a PV (`pv`) or on another LV (`lv`), never both; `start` is its first extent there. */
export type Area = { pv: string; lv?: undefined; start: number } | { lv: string; pv?: undefined; start: number };

export interface Segment {
  /** "LV segment2 (line 57)": where the VG text describes it, for messages. */
  where: string;
  startExtent: number;
  extentCount: number;
  type: string;
  /** striped: the areas, in stripe order; one for linear. */
  areas: Area[];
  /** striped with several areas: sectors a stripe chunk. */
  stripeSize?: number;
  /** thin-pool */
  metadataLv?: string;
  dataLv?: string;
  transactionId?: number;
  /** Sectors. */
  chunkSize?: number;
  /**
   * thin-pool: messages LVM queued for the kernel and has not seen done
   * (an interrupted lvcreate or lvremove): its transaction_id already
   * counts them (lib/thin/thin.c message sections).
   */
  messages?: Array<{ create?: string; trim?: string; delete?: number }>;
  /** thin */
  thinPool?: string;
  deviceId?: number;
  origin?: string;
  /** raid1 and mirror: the LVs holding its copies (named when the LV is refused). */
  images?: string[];
}

export interface LogicalVolume {
  name: string;
  visible: boolean;
  /** Empty when the LV has a defect. */
  segments: Segment[];
  /** Why the VG text's description of the LV cannot be used (a field missing, out of range, naming nothing): the LV is refused. */
  defect?: string;
}

/**
 * An LV's type as lvs prints it: the first segment's type, except that a
 * "striped" LV whose every segment has one stripe is "linear" (LVM writes
 * both as striped); "unreadable" for an LV with a defect.
 */
export function lvType(lv: LogicalVolume): string {
  if (lv.defect) return 'unreadable';
  const first = lv.segments[0];
  if (!first) return 'none';
  if (first.type === 'striped') return lv.segments.every((s) => s.areas.length === 1) ? 'linear' : 'striped';
  return first.type;
}

export interface VolumeGroup {
  name: string;
  id: string;
  seqno: number;
  /** Sectors. */
  extentSize: number;
  pvs: PvRef[];
  lvs: Map<string, LogicalVolume>;
}

/** Why a VG section cannot be modelled, or an LV of it cannot be read (a field missing or impossible). */
export class VgTextError extends UsageError {
  constructor(
    readonly vg: string,
    readonly detail: string,
  ) {
    super(`VG ${printable(vg)}: ${detail}`);
    this.name = 'VgTextError';
  }
}

/** Extents, sectors and ids are kept as numbers: every byte offset made of them must stay exact. */
const MAX_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / 512);
const U32 = 2 ** 32 - 1;
/** lvm2 reads segment_count as an int32. */
const I32 = 2 ** 31 - 1;
/** lvm2 keeps thin device ids in 24 bits. */
const MAX_DEVICE_ID = 2 ** 24 - 1;

/** A field LVM writes as a count or a sector number, outside what it can hold. */
class FieldError extends Error {}

/**
 * The VG described by section `s` of a VG text. The VG's own fields must
 * be sound (a VgTextError otherwise); a PV or LV whose fields are missing,
 * out of range or name nothing is kept with its `defect`, so that the other
 * LVs are still read and only the ones that need it are refused.
 */
export function volumeGroup(s: ConfigSection): VolumeGroup {
  const vgName = s.name;
  let extentSize: number;
  let seqno: number;
  try {
    extentSize = field(s, 'extent_size', `the VG (line ${s.line})`, 1, U32, 'sectors an extent');
    seqno = field(s, 'seqno', `the VG (line ${s.line})`, 0, Number.MAX_SAFE_INTEGER, 'a sequence number');
  } catch (e) {
    if (e instanceof FieldError) throw new VgTextError(vgName, e.message);
    throw e;
  }
  const pvs: PvRef[] = [];
  for (const p of s.section('physical_volumes')?.sections.values() ?? []) {
    const where = `PV ${printable(p.name)} (line ${p.line})`;
    const pv: PvRef = { key: p.name, id: p.string('id') ?? '', device: p.string('device'), peStart: 0, peCount: 0 };
    try {
      pv.peStart = field(p, 'pe_start', where, 0, MAX_SECTORS, 'the sector of its first extent');
      pv.peCount = field(p, 'pe_count', where, 0, U32, 'its number of extents');
      if (pv.peStart + pv.peCount * extentSize > MAX_SECTORS)
        throw new FieldError(`${where}: pe_start ${pv.peStart} + pe_count ${pv.peCount} extents of ${extentSize} sectors runs past 2^53 bytes`);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      pv.defect = e.message;
    }
    pvs.push(pv);
  }
  const pvKeys = new Map(pvs.map((p) => [p.key, p]));
  const lvs = new Map<string, LogicalVolume>();
  for (const l of s.section('logical_volumes')?.sections.values() ?? []) {
    const lv: LogicalVolume = { name: l.name, visible: (l.list('status') ?? []).includes('VISIBLE'), segments: [] };
    try {
      for (const g of l.sections.values())
        if (/^segment\d+$/.test(g.name)) lv.segments.push(segment(g, `LV ${printable(l.name)} ${g.name} (line ${g.line})`, pvKeys, extentSize));
      lv.segments.sort((a, b) => a.startExtent - b.startExtent);
      let next = 0;
      for (const g of lv.segments) {
        if (g.startExtent !== next)
          throw new FieldError(
            `LV ${printable(l.name)}: a segment starts at extent ${g.startExtent}, expected ${next} (segments must follow each other from extent 0)`,
          );
        next += g.extentCount;
      }
      if (next * extentSize > MAX_SECTORS) throw new FieldError(`LV ${printable(l.name)}: ${next} extents of ${extentSize} sectors is past 2^53 bytes`);
      // lvm2 reads every sub-section of an LV as a segment and refuses the VG when segment_count disagrees: so does dmthin, for that LV.
      const declared = field(l, 'segment_count', `LV ${printable(l.name)}`, 1, I32, 'its number of segments');
      if (declared !== l.sections.size)
        throw new FieldError(
          `LV ${printable(l.name)}: segment_count = ${declared}, but it has ${l.sections.size} segment section${l.sections.size === 1 ? '' : 's'}${l.sections.size ? ` (${[...l.sections.keys()].map(printable).join(', ')})` : ''}`,
        );
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      lv.defect = e.message;
      lv.segments = [];
    }
    lvs.set(l.name, lv);
  }
  // What the segments name must exist, and their extents lie inside it.
  const extents = new Map([...lvs.values()].map((lv) => [lv.name, lv.segments.reduce((n, g) => n + g.extentCount, 0)]));
  for (const lv of lvs.values()) {
    if (lv.defect) continue;
    for (const g of lv.segments) {
      const problem = namesInside(g, lvs, extents, pvKeys);
      if (problem) {
        lv.defect = `${g.where}: ${problem}`;
        break;
      }
    }
  }
  return { name: vgName, id: s.string('id') ?? '', seqno, extentSize, pvs, lvs };
}

/** A number field `name` of `sec` within min..max; a FieldError naming `where`, the value and `what` it should be otherwise. */
function field(sec: ConfigSection, name: string, where: string, min: number, max: number, what: string): number {
  const v = sec.values.get(name);
  if (v === undefined) throw new FieldError(`${where} has no ${name}`);
  if (typeof v !== 'number' || v < min || v > max) throw new FieldError(`${where}: ${name} = ${shown(v)}, expected ${what} (${min} to ${max})`);
  return v;
}

function segment(g: ConfigSection, where: string, pvs: ReadonlyMap<string, PvRef>, extentSize: number): Segment {
  const type = g.string('type') ?? '';
  const seg: Segment = {
    where,
    startExtent: field(g, 'start_extent', where, 0, U32, 'its first extent in the LV'),
    extentCount: field(g, 'extent_count', where, 1, U32, 'its number of extents'),
    type,
    areas: [],
  };
  if (type === 'striped') {
    const list = g.list('stripes') ?? [];
    const count = field(g, 'stripe_count', where, 1, 2 ** 16, 'the number of stripes');
    if (list.length !== 2 * count)
      throw new FieldError(`${where}: stripe_count = ${count}, but stripes lists ${Math.floor(list.length / 2)} name, extent pairs`);
    seg.areas = areas(list, where, pvs);
    if (seg.extentCount % count !== 0) throw new FieldError(`${where}: extent_count = ${seg.extentCount} is not a multiple of stripe_count ${count}`);
    if (count > 1) {
      seg.stripeSize = field(g, 'stripe_size', where, 1, U32, 'sectors a stripe chunk');
      // dm-stripe's own rule: each stripe's length is a whole number of chunks.
      if ((BigInt(seg.extentCount / count) * BigInt(extentSize)) % BigInt(seg.stripeSize) !== 0n)
        throw new FieldError(
          `${where}: stripe_size = ${seg.stripeSize} sectors does not divide each stripe's ${seg.extentCount / count} extents of ${extentSize} sectors`,
        );
    }
  } else if (type === 'thin-pool') {
    seg.metadataLv = g.string('metadata');
    seg.dataLv = g.string('pool');
    if (seg.metadataLv === undefined || seg.dataLv === undefined) throw new FieldError(`${where}: a thin-pool segment names its metadata and pool LVs`);
    seg.transactionId = field(g, 'transaction_id', where, 0, Number.MAX_SAFE_INTEGER, 'a transaction id');
    // lvm2 writes chunk_size; its first releases wrote data_block_size.
    seg.chunkSize = field(g, g.values.has('chunk_size') ? 'chunk_size' : 'data_block_size', where, 1, U32, 'sectors a chunk');
    const messages = [...g.sections.values()].filter((m) => /^message\d+$/.test(m.name));
    if (messages.length) seg.messages = messages.map((m) => ({ create: m.string('create'), trim: m.string('trim'), delete: m.number('delete') }));
  } else if (type === 'thin') {
    seg.thinPool = g.string('thin_pool');
    if (seg.thinPool === undefined) throw new FieldError(`${where}: a thin segment names its thin_pool`);
    seg.deviceId = field(g, 'device_id', where, 0, MAX_DEVICE_ID, 'a thin device id');
    seg.transactionId = g.number('transaction_id');
    seg.origin = g.string('origin');
  } else if (type === 'raid1' || type === 'mirror') {
    // Each image of a raid1 or mirror LV holds a whole copy: named when the LV is refused.
    const list = type === 'raid1' ? (g.list('raids') ?? []) : (g.list('mirrors') ?? []);
    seg.images = list.filter((x, i): x is string => typeof x === 'string' && (type === 'mirror' || i % 2 === 1));
  }
  return seg;
}

/** ["pv0", 0, "pv1", 7] -> areas; a name physical_volumes does not list is an LV's. */
function areas(list: readonly ConfigScalar[], where: string, pvs: ReadonlyMap<string, PvRef>): Area[] {
  const out: Area[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i];
    const start = list[i + 1];
    if (typeof name !== 'string' || typeof start !== 'number') throw new FieldError(`${where}: stripes are not name, extent pairs (item ${i + 1})`);
    if (start < 0 || start > U32) throw new FieldError(`${where}: stripe ${i / 2} on ${printable(name)} starts at extent ${start}, expected 0 to ${U32}`);
    out.push(pvs.has(name) ? { pv: name, start } : { lv: name, start });
  }
  return out;
}

/** Why a segment's areas or the LVs it names do not exist or cannot hold it (undefined when they can). */
function namesInside(
  g: Segment,
  lvs: ReadonlyMap<string, LogicalVolume>,
  extents: ReadonlyMap<string, number>,
  pvs: ReadonlyMap<string, PvRef>,
): string | undefined {
  const perArea = g.areas.length ? g.extentCount / g.areas.length : 0;
  for (const [i, a] of g.areas.entries()) {
    const end = a.start + perArea;
    if (a.pv !== undefined) {
      const pv = must(pvs.get(a.pv), `${g.where}'s PV ${a.pv}`);
      if (!pv.defect && end > pv.peCount)
        return `stripe ${i} takes extents ${a.start} to ${end - 1} of ${printable(pv.key)}, which has ${pv.peCount} (pe_count): past the PV's end`;
    } else {
      const target = lvs.get(a.lv);
      if (!target) return `stripe ${i} is on ${printable(a.lv)}, which is neither a PV nor an LV of the VG`;
      const size = must(extents.get(a.lv), `the extents of LV ${a.lv}`);
      if (!target.defect && end > size) return `stripe ${i} takes extents ${a.start} to ${end - 1} of LV ${printable(a.lv)}, which has ${size}`;
    }
  }
  for (const [what, name] of [
    ['metadata', g.metadataLv],
    ['pool', g.dataLv],
    ['thin_pool', g.thinPool],
  ] as const) {
    if (name !== undefined && !lvs.has(name)) return `${what} = ${shown(name)} names no LV of the VG`;
  }
  return undefined;
}

/** A value of the text as a message shows it: a string quoted and escaped. */
function shown(v: ConfigValue): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `"${printable(v)}"`;
  return `[${v.map(shown).join(', ')}]`;
}

/** An LV's size in bytes: its segments' extents (for a thin LV, its virtual size). */
export function lvBytes(vg: VolumeGroup, lv: LogicalVolume): number {
  return lv.segments.reduce((n, s) => n + s.extentCount, 0) * vg.extentSize * 512;
}

/** Where `length` bytes of an LV at byte `offset` live: runs on PVs, by PV key and byte offset in the PV. */
export interface PvRun {
  pv: string;
  /** Bytes from the PV's start. */
  offset: number;
  length: number;
}

/** LVs stacked on LVs deeper than this are refused (LVM stacks two or three: a raid image, a cache origin). */
const MAX_STACK = 8;

/** The segment holding logical extent `le` (segments are sorted and follow each other). */
function segmentAt(lv: LogicalVolume, le: number): Segment | undefined {
  let lo = 0;
  let hi = lv.segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = lv.segments[mid];
    if (le < s.startExtent) hi = mid - 1;
    else if (le >= s.startExtent + s.extentCount) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/**
 * Why LV `name` cannot be read through its segments: a defect in the VG
 * text, a segment type dmthin does not read (named, with what can still be
 * read), LVs stacked too deep or on themselves. Undefined when every
 * segment, down through the LVs it is stacked on, is linear or striped onto
 * PVs without a defect. Each LV is judged once: segments, not stripes, and
 * an LV many segments are stacked on is not walked again for each.
 */
export function unreadableLv(vg: VolumeGroup, name: string): string | undefined {
  // Each LV's verdict and how many LVs deep it is stacked (itself 0), judged once.
  const judged = new Map<string, { why?: string; height: number }>();
  const visiting = new Set<string>();
  const pvs = pvIndex(vg);
  const judge = (n: string): { why?: string; height: number } => {
    const known = judged.get(n);
    if (known) return known;
    const lv = vg.lvs.get(n);
    if (!lv) return { why: `no LV ${printable(n)}`, height: 0 };
    if (lv.defect) return { why: lv.defect, height: 0 };
    if (visiting.has(n)) return { why: `LV ${printable(n)} is stacked on itself`, height: 0 };
    visiting.add(n);
    const verdict: { why?: string; height: number } = { height: 0 };
    for (const seg of lv.segments) {
      if (seg.type !== 'striped') verdict.why = unsupported(n, seg);
      for (const a of seg.areas) {
        if (verdict.why) break;
        if (a.lv === undefined) verdict.why = pvs.get(a.pv)?.defect;
        else {
          const below = judge(a.lv);
          verdict.why = below.why;
          verdict.height = Math.max(verdict.height, below.height + 1);
        }
      }
      if (verdict.why) break;
    }
    if (!verdict.why && verdict.height > MAX_STACK) verdict.why = `LV ${printable(n)}: LVs stacked more than ${MAX_STACK} deep`;
    visiting.delete(n);
    judged.set(n, verdict);
    return verdict;
  };
  return judge(name).why;
}

function unsupported(name: string, seg: Segment): string {
  const lv = `LV ${printable(name)}`;
  const type = seg.type ? `segment type ${printable(seg.type)}` : 'a segment without a type';
  if (seg.images?.length) {
    const legs = seg.images.map(printable).join(', ');
    return `${lv} is a ${printable(seg.type)} LV, whose ${type} is not read (only striped and linear data are): each of its images (${legs}) holds a whole copy and is read on its own (dmthin lvm export IMAGE... VG/${printable(seg.images[0])} -o FILE)`;
  }
  return `${lv}: ${type} is not read (only striped and linear data are, and thin LVs through their pool); the VG's other LVs are read`;
}

/** A run of an LV's extents on one PV: bytes [from, to) from the PV's start. */
export interface PvExtentRun {
  pv: string;
  from: number;
  to: number;
}

/**
 * The byte ranges of PVs that LV `name` (a readable one: unreadableLv)
 * lies on: a run per stripe of each segment, and those of every LV it is
 * stacked on, each LV once and whole (more than the stacked part, never
 * less): what must be in the images for every byte of it to be there.
 */
export function lvPvRuns(vg: VolumeGroup, name: string): PvExtentRun[] {
  const extent = vg.extentSize * 512;
  const pvs = pvIndex(vg);
  const out: PvExtentRun[] = [];
  const seen = new Set<string>([name]);
  const todo = [name];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    for (const seg of vg.lvs.get(n)?.segments ?? []) {
      const perArea = seg.extentCount / seg.areas.length;
      for (const a of seg.areas) {
        if (a.lv !== undefined) {
          if (!seen.has(a.lv)) todo.push(a.lv);
          seen.add(a.lv);
        } else {
          const pv = must(pvs.get(a.pv), `${seg.where}'s PV ${a.pv}`);
          const from = pv.peStart * 512 + a.start * extent;
          out.push({ pv: pv.key, from, to: from + perArea * extent });
        }
      }
    }
  }
  return out;
}

const pvIndexes = new WeakMap<VolumeGroup, Map<string, PvRef>>();

/** The VG's PVs by key (a VG text may list many: looked up by name, not searched). */
export function pvIndex(vg: VolumeGroup): ReadonlyMap<string, PvRef> {
  let m = pvIndexes.get(vg);
  if (!m) pvIndexes.set(vg, (m = new Map(vg.pvs.map((p) => [p.key, p]))));
  return m;
}

/**
 * Maps [offset, offset + length) of LV `name` onto its PVs, through
 * striped segments and LVs stacked on LVs, arithmetically from each
 * segment's stripe geometry: runs for the bytes asked, never for the whole
 * LV. Throws a VgTextError naming the segment type it does not read, or a
 * range past the LV's end.
 */
export function mapLv(vg: VolumeGroup, name: string, offset: number, length: number, depth = 0): PvRun[] {
  const lv = vg.lvs.get(name);
  if (!lv) throw new VgTextError(vg.name, `no LV ${printable(name)}`);
  if (lv.defect) throw new VgTextError(vg.name, lv.defect);
  if (depth > MAX_STACK) throw new VgTextError(vg.name, `${printable(name)}: LVs stacked more than ${MAX_STACK} deep`);
  const extent = vg.extentSize * 512;
  const out: PvRun[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const seg = segmentAt(lv, Math.floor(pos / extent));
    if (!seg) throw new VgTextError(vg.name, `${printable(name)}: byte ${pos} is past its last segment`);
    if (seg.type !== 'striped') throw new VgTextError(vg.name, unsupported(name, seg));
    const segStart = seg.startExtent * extent;
    const segEnd = (seg.startExtent + seg.extentCount) * extent;
    const within = pos - segStart;
    const n = seg.areas.length;
    // One stripe: the segment's bytes lie in a row; several: chunk by chunk.
    const chunk = n === 1 ? segEnd - segStart : must(seg.stripeSize, `${seg.where}'s stripe_size`) * 512;
    const c = Math.floor(within / chunk);
    const area = seg.areas[c % n];
    const inArea = Math.floor(c / n) * chunk + (within % chunk);
    const take = Math.min(end - pos, chunk - (within % chunk), segEnd - pos);
    if (area.lv) {
      out.push(...mapLv(vg, area.lv, area.start * extent + inArea, take, depth + 1));
    } else {
      const pv = area.pv === undefined ? undefined : pvIndex(vg).get(area.pv);
      if (!pv) throw new VgTextError(vg.name, `${printable(name)}: stripe on ${printable(area.pv ?? '')}, which physical_volumes does not list`);
      if (pv.defect) throw new VgTextError(vg.name, pv.defect);
      out.push({ pv: pv.key, offset: (pv.peStart + area.start * vg.extentSize) * 512 + inArea, length: take });
    }
    pos += take;
  }
  return out;
}
