/**
 * `dmthin lvm ls`: what `lvs -a` would say, read from disk images without
 * lvm2: each VG, its PVs, every LV (hidden ones too), and for thin pools
 * what the pool's own metadata says beside what LVM's text says, with the
 * disagreements between them as problems.
 */
import { UsageError, must } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import { Metadata } from '../thin/metadata.js';
import { damageSummary, scanDamage } from '../thin/damage.js';
import { dashedUuid } from './label.js';
import { LvNotAllThereError, LvSource, lvNotReadable } from './lv-source.js';
import { printable } from './printable.js';
import { type ImageSet, withImages } from './images.js';
import type { AssembledVg, LvmProblem, Scan } from './scan.js';
import { type PoolAgreement, agrees, mismatchAdvice, poolAgreement } from './transaction.js';
import { VgTextError, lvBytes, lvType } from './vg.js';

export interface InventoryLv {
  name: string;
  /** LVM's segment type: linear, striped, thin-pool, thin, or what the text says. */
  type: string;
  /** Bytes (for a thin LV: its virtual size). */
  size: number;
  hidden: boolean;
  pool?: string;
  deviceId?: number;
  origin?: string;
  /** Thin LVs: bytes the pool maps for them (mapped blocks x chunk size). */
  mappedBytes?: number;
  /** Thin pools: bytes. */
  chunkSize?: number;
  /** Thin pools: LVM's; thin LVs: LVM's at their creation. */
  transactionId?: number;
  /** Thin pools: the pool metadata's own (its superblock). */
  metadataTransactionId?: bigint;
  /**
   * Why the LV cannot be read whole, when it cannot: the kind of the
   * problem that says so (its own, or for a thin LV its pool's), so that no
   * row looks healthy when export would refuse it.
   */
  problem?: string;
}

export interface InventoryPv {
  name: string;
  uuid: string;
  /** The image holding the PV; null when none of those given does. */
  file: string | null;
  /** Byte offset of the PV in the file (its partition's start; 0 for a PV image); null when missing. */
  offset: number | null;
  /** Bytes from the PV's start to its first extent. */
  peStart: number;
  peCount: number;
}

export interface InventoryVg {
  name: string;
  seqno: number;
  /** Bytes. */
  extentSize: number;
  pvs: InventoryPv[];
  lvs: InventoryLv[];
}

export interface Inventory {
  vgs: InventoryVg[];
  problems: LvmProblem[];
}

/** A pool's two transaction ids and device sets, with the VG text LVM keeps them in. */
export interface PoolState {
  vg: string;
  pool: string;
  agreement: PoolAgreement;
  /** The VG's committed text. */
  text: string;
}

export function lvmInventory(images: ImageSet): Inventory {
  return collectInventory(images).inventory;
}

/** The inventory, and each readable pool's state (for --fix-vg-text). */
export function collectInventory(images: ImageSet): { inventory: Inventory; pools: PoolState[] } {
  return withImages(images, ({ scan, paths }) => {
    // A copy: the scan's own list is shared by every verb given these images.
    const inventory: Inventory = { vgs: [], problems: [...scan.problems] };
    const pools: PoolState[] = [];
    for (const a of scan.vgs) inventory.vgs.push(describeVg(a, scan.pvs, inventory.problems, pools, paths));
    return { inventory, pools };
  });
}

function describeVg(a: AssembledVg, found: Scan['pvs'], problems: LvmProblem[], agreements: PoolState[], images: readonly string[]): InventoryVg {
  const { vg } = a;
  const extent = vg.extentSize * 512;
  const pvs = vg.pvs.map((p) => {
    const f = found.find((x) => dashedUuid(x.label.uuid) === p.id);
    if (p.defect) problems.push({ kind: 'bad_vg_text', vg: vg.name, detail: p.defect });
    // An image shorter than its label says: whatever lies past its end is not there (unless the scan said so already).
    if (f && f.size < f.label.deviceSize && !problems.some((x) => x.kind === 'truncated_pv' && x.detail.includes(f.file))) {
      problems.push({
        kind: 'truncated_pv',
        vg: vg.name,
        detail: `${printable(p.key)} (uuid ${printable(p.id)}) in ${printable(f.file)}${f.start ? ` at byte ${f.start}` : ''}: its label says the PV has ${f.label.deviceSize} bytes, the image holds ${f.size}`,
      });
    }
    return { name: p.key, uuid: p.id, file: f?.file ?? null, offset: f?.start ?? null, peStart: p.peStart * 512, peCount: p.peCount };
  });
  const poolParts = new Set<string>();
  for (const lv of vg.lvs.values()) {
    const s = lv.segments[0];
    if (s?.type === 'thin-pool') for (const part of [s.metadataLv, s.dataLv]) if (part !== undefined) poolParts.add(part);
  }
  const verdicts = new Verdicts(a);
  const lvs: InventoryLv[] = [];
  for (const lv of vg.lvs.values()) {
    const first = lv.segments[0];
    const type = lvType(lv);
    const row: InventoryLv = { name: lv.name, type, size: lvBytes(vg, lv), hidden: !lv.visible };
    if (first?.type === 'thin')
      Object.assign(row, { pool: first.thinPool, deviceId: first.deviceId, origin: first.origin, transactionId: first.transactionId });
    if (first?.type === 'thin-pool') Object.assign(row, { chunkSize: (first.chunkSize ?? 0) * 512, transactionId: first.transactionId });
    lvs.push(row);
    if (lv.defect) problems.push({ kind: 'bad_lv', vg: vg.name, lv: lv.name, detail: lv.defect });
    // A linear or striped LV some of whose bytes the images lack (a pool's own LVs are its problem, below).
    else if (!poolParts.has(lv.name) && lv.segments.length && lv.segments.every((g) => g.type === 'striped')) {
      const why = verdicts.of(lv.name);
      if (why instanceof LvNotAllThereError) problems.push({ kind: 'lv_not_all_there', vg: vg.name, lv: lv.name, detail: why.detail + PARTIAL });
      else if (why) problems.push({ kind: 'bad_lv', vg: vg.name, lv: lv.name, detail: why.detail });
    }
  }
  // What each pool's metadata says about it and its thin LVs.
  for (const pool of lvs.filter((l) => l.type === 'thin-pool')) {
    const seg = must(vg.lvs.get(pool.name)?.segments[0], `the segment of pool ${pool.name}`);
    const metadataLv = must(seg.metadataLv, `${seg.where}'s metadata`);
    const dataLv = must(seg.dataLv, `${seg.where}'s pool`);
    const thins = lvs.filter((l) => l.type === 'thin' && l.pool === pool.name);
    const data = verdicts.of(dataLv, `pool ${printable(pool.name)}'s data LV`);
    const metadataRole = `pool ${printable(pool.name)}'s metadata LV`;
    if (data) {
      // The metadata is offered as a way on only when it is whole itself (its own problem follows otherwise).
      const metadataWhole = !verdicts.of(metadataLv, metadataRole);
      problems.push({
        kind: 'unreadable_pool_data',
        vg: vg.name,
        lv: pool.name,
        detail:
          data instanceof LvNotAllThereError
            ? `${data.missing}: its thin LVs cannot be exported whole or sent; ${data.remedy}${metadataWhole ? ` (its metadata can still be checked and dumped)${PARTIAL}` : ''}`
            : `${data.detail}: its thin LVs cannot be exported or sent${metadataWhole ? ' (its metadata can still be checked and dumped)' : ''}`,
      });
    }
    let md: Metadata | undefined;
    let metadata: LvSource | undefined;
    const doctor = `dmthin lvm doctor ${images.join(' ')} ${vg.name}/${pool.name}`;
    try {
      metadata = new LvSource(vg, metadataLv, a.pvs, metadataRole);
      // Opening it judged it: every byte of it is there.
      verdicts.opened(metadataLv, metadataRole, undefined);
      md = Metadata.open(metadata);
      pool.metadataTransactionId = md.superblock.transactionId;
      const devices = new Map(md.devices().map((d) => [d.devId, d]));
      const agreement = poolAgreement(
        seg,
        thins.map((t) => must(t.deviceId, `the device id of thin LV ${t.name}`)),
        [...devices.keys()],
        md.superblock.transactionId,
      );
      agreements.push({ vg: vg.name, pool: pool.name, agreement, text: a.text });
      if (agreement.pendingMessages) {
        const what = (seg.messages ?? [])
          .map((m) => (m.create ? `create ${printable(m.create)}` : m.trim ? `trim ${printable(m.trim)}` : `delete device ${m.delete}`))
          .join(', ');
        problems.push({
          kind: 'pending_messages',
          vg: vg.name,
          lv: pool.name,
          detail: `LVM queued ${what} for pool ${printable(pool.name)} and has not seen it done (a command was interrupted); LVM sends it at the next activation`,
        });
      }
      if (!agrees(agreement))
        problems.push({ kind: 'transaction_id_mismatch', vg: vg.name, lv: pool.name, detail: mismatchAdvice(printable(pool.name), agreement) });
      // An impossible data_block_size (0 under a valid checksum) would report every thin LV as 0 bytes mapped: named instead, sizes left out.
      let bytesPerBlock: number | undefined;
      try {
        bytesPerBlock = md.dataBlockBytes();
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        problems.push({ kind: 'unreadable_pool_metadata', vg: vg.name, lv: pool.name, detail: e.message });
      }
      // A data LV smaller than the data blocks the pool's metadata counts: what lies past its end is not there.
      const dataLvOf = vg.lvs.get(dataLv);
      const nrData = md.superblock.dataSpaceMapRoot.nrBlocks;
      if (!data && dataLvOf && bytesPerBlock !== undefined && lvBytes(vg, dataLvOf) < nrData * bytesPerBlock) {
        problems.push({
          kind: 'unreadable_pool_data',
          vg: vg.name,
          lv: pool.name,
          detail: `pool ${printable(pool.name)}'s data LV ${printable(dataLv)} holds ${lvBytes(vg, dataLvOf)} bytes, its metadata counts ${nrData} data blocks of ${bytesPerBlock}: its thin LVs cannot be exported or sent`,
        });
      }
      // Devices a pending message creates or deletes are expected to differ.
      const creating = new Set((seg.messages ?? []).map((m) => m.create).filter((n) => n !== undefined));
      const deleting = new Set((seg.messages ?? []).map((m) => m.delete).filter((n) => n !== undefined));
      for (const t of thins) {
        const d = devices.get(must(t.deviceId, `the device id of thin LV ${t.name}`));
        if (d) {
          if (bytesPerBlock !== undefined) t.mappedBytes = d.mappedBlocks * bytesPerBlock;
        } else if (!creating.has(t.name))
          problems.push({
            kind: 'thin_device_missing',
            vg: vg.name,
            lv: t.name,
            detail: `thin LV ${printable(t.name)} names device ${t.deviceId}, which pool ${printable(pool.name)}'s metadata does not have`,
          });
      }
      damagedMetadata(md, vg.name, pool.name, thins, doctor, problems);
      for (const id of devices.keys()) {
        if (!thins.some((t) => t.deviceId === id) && !deleting.has(id)) {
          problems.push({
            kind: 'orphan_thin_device',
            vg: vg.name,
            lv: pool.name,
            detail: `pool ${printable(pool.name)}'s metadata has thin device ${id}, which no LV names`,
          });
        }
      }
    } catch (e) {
      if (!(e instanceof MetadataError || e instanceof VgTextError || e instanceof UsageError)) throw e;
      // Opening it judged it: why it could not be opened.
      if (!metadata && (e instanceof VgTextError || e instanceof LvNotAllThereError)) verdicts.opened(metadataLv, metadataRole, e);
      // Damaged bytes (not a missing PV or a bad VG text): the doctor says what survives.
      const detail =
        e instanceof VgTextError || e instanceof LvNotAllThereError
          ? e.detail
          : `${printable(metadataLv)}: ${e.message}${e instanceof MetadataError ? `: the pool cannot be listed, exported or activated as it is; run ${doctor} to see what is lost and what to do next` : ''}`;
      problems.push({ kind: 'unreadable_pool_metadata', vg: vg.name, lv: pool.name, detail });
    } finally {
      md?.close();
    }
  }
  markUnreadable(a, lvs, problems, verdicts);
  return { name: vg.name, seqno: vg.seqno, extentSize: extent, pvs, lvs };
}

/**
 * Damage below the superblock and the device list (a mapping leaf, a space
 * map's index or bitmap) that listing alone never reads: every tree is
 * walked (scanDamage: each node judged, nothing counted; about a third of
 * a full check's time) so that a damaged pool is a problem, not a healthy
 * row. Thin LVs whose mappings are damaged are marked.
 */
function damagedMetadata(md: Metadata, vg: string, pool: string, thins: InventoryLv[], doctor: string, problems: LvmProblem[]): void {
  const scan = scanDamage(md);
  if (!scan.total) return;
  const hit = new Set<number>();
  for (const d of scan.damage) if (d.tree?.kind === 'mappings' && d.tree.devId !== undefined) hit.add(d.tree.devId);
  const lvs = thins.filter((t) => t.deviceId !== undefined && hit.has(t.deviceId));
  for (const t of lvs) t.problem = 'damaged_pool_metadata';
  const who = lvs.length ? ` (mappings of ${lvs.map((t) => printable(t.name)).join(', ')})` : '';
  problems.push({
    kind: 'damaged_pool_metadata',
    vg,
    lv: pool,
    detail: `pool ${printable(pool)}'s metadata is damaged${who}: ${damageSummary(scan)}; LVM will not activate it as it is; run ${doctor} to see what is lost and what to do next`,
  });
}

/** The way on for an LV not all there when the disk is gone: what `lvm export` can still do. */
const PARTIAL = '; if the missing bytes cannot be had, lvm export --partial writes what the images hold and lists what is lost';

/** Problems that stop an LV from being read whole: the LV's own, and for thin LVs their pool's, the worst first (without the metadata nothing can be read). */
const LV_STOPS = new Set(['bad_lv', 'lv_not_all_there', 'unreadable_pool_data', 'unreadable_pool_metadata']);
const POOL_STOPS = ['bad_lv', 'unreadable_pool_metadata', 'unreadable_pool_data'];

function markUnreadable(a: AssembledVg, lvs: InventoryLv[], problems: readonly LvmProblem[], verdicts: Verdicts): void {
  const vg = a.vg.name;
  for (const row of lvs) {
    const own = problems.find((p) => p.vg === vg && p.lv === row.name && LV_STOPS.has(p.kind));
    let ofPool: LvmProblem | undefined;
    if (row.type === 'thin') for (const kind of POOL_STOPS) ofPool ??= problems.find((p) => p.vg === vg && p.lv === row.pool && p.kind === kind);
    const p = own ?? ofPool;
    if (p) {
      row.problem = p.kind;
      continue;
    }
    // A pool's own hidden LVs (its _tmeta, _tdata) have their problems named under the pool: marked here too.
    if (row.hidden && verdicts.ofAnyRole(row.name) instanceof LvNotAllThereError) row.problem = 'lv_not_all_there';
  }
}

type Verdict = ReturnType<typeof lvNotReadable>;

/**
 * Whether each LV of a VG can be read whole (lvNotReadable), worked out once
 * an LV though the rows, the pools' problems and the marks of a pool's
 * hidden LVs all ask. The role words only the message: an LV asked for
 * under another role (one LV two pools name, in a damaged text) is judged
 * again for its own message.
 */
class Verdicts {
  private readonly known = new Map<string, { role?: string; why: Verdict }>();

  constructor(private readonly a: AssembledVg) {}

  of(lv: string, role?: string): Verdict {
    const k = this.known.get(lv);
    if (k && k.role === role) return k.why;
    const why = lvNotReadable(this.a.vg, lv, this.a.pvs, role);
    this.known.set(lv, { role, why });
    return why;
  }

  /** The verdict on `lv` under whatever role it was reached (its kind is the same for every role). */
  ofAnyRole(lv: string): Verdict {
    const k = this.known.get(lv);
    return k ? k.why : this.of(lv);
  }

  /** `lv` was opened as an LvSource, which judged it: `why` it could not be, or undefined. */
  opened(lv: string, role: string, why: Verdict): void {
    this.known.set(lv, { role, why });
  }
}
