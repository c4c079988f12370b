/**
 * The volume group a VG text describes (lib/format_text/import_vsn1.c):
 * its PVs and extent size, and each LV as segments. Striped segments
 * (linear is one stripe) map an LV's extents onto PVs or onto another LV's
 * extents; thin-pool and thin segments carry the pool's and the thin LV's
 * fields. Other segment types are kept by name, so that only the LVs that
 * need them are refused.
 */
import type { ConfigScalar, ConfigSection } from './config-text.js';

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
}

/** A run of extents on a PV (`pv`) or on another LV (`lv`). */
export interface Area {
  pv?: string;
  lv?: string;
  /** First extent of the run on that PV or LV. */
  start: number;
}

export interface Segment {
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
}

export interface LogicalVolume {
  name: string;
  visible: boolean;
  segments: Segment[];
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

/** Why a VG section cannot be modelled (a field it must have is missing). */
export class VgTextError extends Error {
  constructor(
    readonly vg: string,
    readonly detail: string,
  ) {
    super(`VG ${vg}: ${detail}`);
    this.name = 'VgTextError';
  }
}

/** The VG described by section `s` of a VG text. */
export function volumeGroup(s: ConfigSection): VolumeGroup {
  const need = (sec: ConfigSection, field: string, where: string): number => {
    const v = sec.number(field);
    if (v === undefined) throw new VgTextError(s.name, `${where} has no ${field}`);
    return v;
  };
  const pvs: PvRef[] = [];
  for (const p of s.section('physical_volumes')?.sections.values() ?? []) {
    pvs.push({ key: p.name, id: p.string('id') ?? '', device: p.string('device'), peStart: need(p, 'pe_start', p.name), peCount: need(p, 'pe_count', p.name) });
  }
  const lvs = new Map<string, LogicalVolume>();
  for (const l of s.section('logical_volumes')?.sections.values() ?? []) {
    const segments: Segment[] = [];
    for (const g of l.sections.values()) {
      if (!/^segment\d+$/.test(g.name)) continue;
      const where = `${l.name} ${g.name}`;
      const type = g.string('type') ?? '';
      const seg: Segment = { startExtent: need(g, 'start_extent', where), extentCount: need(g, 'extent_count', where), type, areas: [] };
      if (type === 'striped') {
        seg.areas = areas(g.list('stripes') ?? [], s.name, where, pvs);
        if (seg.areas.length !== (g.number('stripe_count') ?? 1))
          throw new VgTextError(s.name, `${where}: stripe_count ${g.number('stripe_count')} but ${seg.areas.length} stripes`);
        if (seg.areas.length > 1) seg.stripeSize = need(g, 'stripe_size', where);
      } else if (type === 'thin-pool') {
        seg.metadataLv = g.string('metadata');
        seg.dataLv = g.string('pool');
        seg.transactionId = need(g, 'transaction_id', where);
        // lvm2 writes chunk_size; its first releases wrote data_block_size.
        seg.chunkSize = g.number('chunk_size') ?? need(g, 'data_block_size', where);
        const messages = [...g.sections.values()].filter((m) => /^message\d+$/.test(m.name));
        if (messages.length) seg.messages = messages.map((m) => ({ create: m.string('create'), trim: m.string('trim'), delete: m.number('delete') }));
      } else if (type === 'thin') {
        seg.thinPool = g.string('thin_pool');
        seg.deviceId = need(g, 'device_id', where);
        seg.transactionId = g.number('transaction_id');
        seg.origin = g.string('origin');
      }
      segments.push(seg);
    }
    segments.sort((a, b) => a.startExtent - b.startExtent);
    lvs.set(l.name, { name: l.name, visible: (l.list('status') ?? []).includes('VISIBLE'), segments });
  }
  return { name: s.name, id: s.string('id') ?? '', seqno: need(s, 'seqno', 'the VG'), extentSize: need(s, 'extent_size', 'the VG'), pvs, lvs };
}

/** ["pv0", 0, "pv1", 7] -> areas; a name physical_volumes does not list is an LV's. */
function areas(list: readonly ConfigScalar[], vg: string, where: string, pvs: readonly PvRef[]): Area[] {
  const out: Area[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i];
    const start = list[i + 1];
    if (typeof name !== 'string' || typeof start !== 'number') throw new VgTextError(vg, `${where}: stripes are not name, extent pairs`);
    out.push(pvs.some((p) => p.key === name) ? { pv: name, start } : { lv: name, start });
  }
  return out;
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

/**
 * Maps [offset, offset + length) of LV `name` onto its PVs, through
 * striped segments and LVs stacked on LVs. Throws a VgTextError naming the
 * segment type it does not read, or a range past the LV's end.
 */
export function mapLv(vg: VolumeGroup, name: string, offset: number, length: number, depth = 0): PvRun[] {
  const lv = vg.lvs.get(name);
  if (!lv) throw new VgTextError(vg.name, `no LV ${name}`);
  if (depth > 8) throw new VgTextError(vg.name, `${name}: LVs stacked more than 8 deep`);
  const extent = vg.extentSize * 512;
  const out: PvRun[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const le = Math.floor(pos / extent);
    const seg = lv.segments.find((s) => le >= s.startExtent && le < s.startExtent + s.extentCount);
    if (!seg) throw new VgTextError(vg.name, `${name}: byte ${pos} is past its last segment`);
    if (seg.type !== 'striped') throw new VgTextError(vg.name, `${name}: segment type ${seg.type} is not read (only striped and linear data are)`);
    const segStart = seg.startExtent * extent;
    const segEnd = (seg.startExtent + seg.extentCount) * extent;
    const within = pos - segStart;
    const n = seg.areas.length;
    // One stripe: the segment's bytes lie in a row; several: chunk by chunk.
    const chunk = n === 1 ? segEnd - segStart : seg.stripeSize! * 512;
    const c = Math.floor(within / chunk);
    const area = seg.areas[c % n];
    const inArea = Math.floor(c / n) * chunk + (within % chunk);
    const take = Math.min(end - pos, chunk - (within % chunk), segEnd - pos);
    if (area.lv) {
      out.push(...mapLv(vg, area.lv, area.start * extent + inArea, take, depth + 1));
    } else {
      const pv = vg.pvs.find((p) => p.key === area.pv);
      if (!pv) throw new VgTextError(vg.name, `${name}: stripe on ${area.pv}, which physical_volumes does not list`);
      out.push({ pv: pv.key, offset: (pv.peStart + area.start * vg.extentSize) * 512 + inArea, length: take });
    }
    pos += take;
  }
  return out;
}
