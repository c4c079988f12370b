/**
 * `dmthin lvm doctor`: the raw doctor (thin/doctor/diagnose.ts) on a pool
 * inside LVM disk images, with the thin LVs' names and sizes, the problems
 * only LVM shows (its transaction_id against the pool's, a PV missing), and
 * a plan in lvm2's own commands with the real VG, LV names and sizes.
 * Nothing is written: the fixed VG text is returned for the kit.
 *
 * What lvm2 does, from its sources (libdm/libdm-deptree.c
 * _thin_pool_node_send_messages, tools/lvconvert.c): at activation the
 * pool's transaction id must equal LVM's, or be one less (LVM's queued
 * messages then bring it level); anything else is refused with "Thin pool
 * VG-POOL-tpool transaction_id is K, while expected L". A pool one behind
 * with no messages queued activates, but the next lvcreate, lvremove or
 * snapshot in it fails the same way. `lvconvert --repair` repairs into the
 * pool metadata spare, keeps the old metadata as POOL_meta0, and refuses
 * repaired metadata whose transaction id is neither LVM's nor LVM's + 1.
 */
import type { ByteSource } from '../io/byte-source.js';
import { ArgumentError, UsageError, must } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import { forEachMapping } from '../thin/mapping-scan.js';
import { type Diagnosis, examine } from '../thin/doctor/diagnose.js';
import type { ByteRange, DeviceReport, DoctorReport, KitFile, PlanStep, Problem } from '../thin/doctor/report.js';
import { type PoolSource, openMetadata } from '../thin/pool-source.js';
import { fixVgText } from './fix-vg-text.js';
import { type GuestLayout, Unreadable, fsckLines, guestLayout } from './guest-disk.js';
import { lookupMappingKnown } from '../thin/doctor/lookup.js';
import { type ImageSet, type LvmImages, withImages } from './images.js';
import { LvSource } from './lv-source.js';
import { type OpenPool, openPool } from './open-pool.js';
import { printable } from './printable.js';
import { type RunningProbe, lvmDmName, runningPool } from './running.js';
import { type AssembledVg, splitVgLv } from './scan.js';
import { type PoolAgreement, poolAgreement, sameDevices } from './transaction.js';
import { type Segment, type VolumeGroup, lvBytes } from './vg.js';
import { Metadata } from '../thin/metadata.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LvmDoctorOptions {
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Whether the kernel runs a pool from the images (default: sysfs says). */
  running?: RunningProbe;
  /** Called with each pool's finished doctor while its metadata can still be read (the kit is written here); without a source when its metadata LV is not in the images. */
  kit?: (doctor: LvmPoolDoctor, source?: PoolSource, diagnosis?: Diagnosis) => void;
}

/** One pool's report, and what its kit adds to the raw kit. */
export interface LvmPoolDoctor {
  report: DoctorReport;
  /** LVM's VG text with the pool's transaction_id set to the pool metadata's (for vgcfgrestore), when that is the fix. */
  vgText?: { vg: string; text: string; file: string };
}

/** The kit file name of the fixed VG text. */
export const VG_TEXT_FILE = (vg: string): string => `${vg.replace(/[^A-Za-z0-9+_.-]/g, '_')}.vg`;

/**
 * The doctor's report for pool `vgPool` of `images`, or for every thin pool
 * they hold when it is undefined (a UsageError when there is none).
 */
export function lvmDoctor(images: ImageSet, vgPool: string | undefined, options: LvmDoctorOptions = {}): LvmPoolDoctor[] {
  if (vgPool !== undefined) splitVgLv(vgPool, 'POOL');
  return withImages(images, (opened) => {
    const targets = vgPool === undefined ? allPools(opened) : [vgPool];
    return targets.map((p) => poolDoctor(opened, p, options));
  });
}

function allPools(opened: LvmImages): string[] {
  const out: string[] = [];
  for (const a of opened.scan.vgs) for (const lv of a.vg.lvs.values()) if (lv.segments[0]?.type === 'thin-pool') out.push(`${a.vg.name}/${lv.name}`);
  if (out.length === 0) {
    const found = opened.scan.vgs.map((a) => printable(a.vg.name));
    throw new UsageError(
      `no thin pool in ${opened.paths.join(', ')}${found.length ? ` (VGs found: ${found.join(', ')})` : ''}${missingNote(opened)}: dmthin lvm ls lists what they hold`,
    );
  }
  return out;
}

function missingNote(opened: LvmImages): string {
  const m = opened.scan.problems.filter((p) => p.kind === 'missing_pv' || p.kind === 'no_pv');
  return m.length ? `; ${m.map((p) => p.detail).join('; ')}` : '';
}

function poolDoctor(opened: LvmImages, vgPool: string, options: LvmDoctorOptions): LvmPoolDoctor {
  const { vg: vgName, lv: poolName } = splitVgLv(vgPool, 'POOL');
  const a = opened.scan.vgs.find((v) => v.vg.name === vgName);
  const seg = a?.vg.lvs.get(poolName)?.segments[0];
  refuseUnknownPool(opened, a, vgPool, seg);
  const problems: Problem[] = [];
  const missing = a ? missingPvProblems(a, poolName) : [];
  problems.push(...missing);
  // LVM's own metadata areas left at an older text: the pool reads from the newest, but lvm2 complains until they are level.
  for (const p of opened.scan.problems.filter((x) => x.kind === 'old_metadata_area' && x.vg === vgName))
    problems.push({
      code: 'old_metadata_area',
      severity: 'non_fatal',
      summary: p.detail,
      fix: `vgck --updatemetadata ${printable(vgName)} (lvm2 writes the newest text into every area)`,
    });
  let source: OpenPool;
  try {
    source = openPool(opened, vgPool, options.running ?? runningPool);
  } catch (e) {
    // The metadata LV not all there: nothing of the pool can be read; the missing PV is the whole answer.
    if (!(e instanceof UsageError) || e instanceof ArgumentError || !a || !seg || missing.length === 0) throw e;
    const report: DoctorReport = {
      pool: { kind: 'lvm', name: `${vgName}/${poolName}` },
      healthy: false,
      problems,
      devices: [],
      candidates: [],
      plan: [],
    };
    report.plan = lvmPlan(report, { vg: a.vg, pool: poolName, metadataBytes: 0, dataBytes: 0, images: opened.paths });
    options.kit?.({ report });
    return { report };
  }
  try {
    const vg = must(a, `VG ${vgName}`).vg;
    const poolSeg = must(seg, `pool ${vgPool}'s segment`);
    const thins = [...vg.lvs.values()].filter((l) => l.segments[0]?.type === 'thin' && l.segments[0].thinPool === poolName);
    const names = new Map(
      thins.map((l) => [must(l.segments[0].deviceId, `thin LV ${l.name}'s device_id`), { name: `${vgName}/${l.name}`, size: lvBytes(vg, l) }]),
    );
    options.onStage?.('comparing the transaction ids');
    // The superblock beside the diagnosis, in one open: LVM's transaction id against the pool's, and a shrink left half done.
    const early = withMetadata(source, (md) => ({
      agreement: readAgreement(md, poolSeg, [...names.keys()]),
      unfinished: unfinishedShrink(md, source.data, opened.paths, vgPool),
    }));
    const mismatch = early?.agreement && transactionProblem(vgName, poolName, early.agreement);
    if (mismatch) problems.push(mismatch);
    if (early?.unfinished) problems.push(early.unfinished);
    const diagnosis = examine(source, { names, problems, onStage: options.onStage, onProgress: options.onProgress });
    const report = diagnosis.report;
    if (missing.length > 0) addMissingPvLosses(report, must(a, `VG ${vgName}`), poolName, names);
    const metadataBytes = source.metadata.size;
    const dataLv = vg.lvs.get(must(poolSeg.dataLv, `pool ${vgPool}'s data LV`));
    let vgText: LvmPoolDoctor['vgText'];
    if (mismatch && mismatch.facts?.sameDevices === true && !mismatch.facts.pendingMessages) {
      try {
        const fix = fixVgText(opened);
        if (fix.vg === vgName && fix.pools.some((p) => p.pool === poolName)) vgText = { vg: vgName, text: fix.text, file: VG_TEXT_FILE(vgName) };
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        mismatch.fix += ` (no fixed VG text: ${e.message})`;
      }
    }
    report.plan = lvmPlan(report, {
      vg,
      pool: poolName,
      metadataBytes,
      dataBytes: dataLv ? lvBytes(vg, dataLv) : 0,
      images: opened.paths,
      running: source.running,
      vgTextFile: vgText?.file,
      chunkBytes: (poolSeg.chunkSize ?? 0) * 512,
      layouts: guestLayouts(source, report),
    });
    options.kit?.({ report, vgText }, source, diagnosis);
    return { report, vgText };
  } finally {
    source.close();
  }
}

/** A VG/POOL the images do not hold as a thin pool is a usage error (exit 2), in one line naming what there is to choose from. */
function refuseUnknownPool(opened: LvmImages, a: AssembledVg | undefined, vgPool: string, seg: Segment | undefined): void {
  if (seg?.type === 'thin-pool') return;
  if (!a) {
    const found = opened.scan.vgs.map((v) => printable(v.vg.name));
    throw new ArgumentError(
      `no VG ${printable(splitVgLv(vgPool, 'POOL').vg)} in ${opened.paths.join(', ')} (${found.length ? `VGs found: ${found.join(', ')}` : 'no VG found'}): dmthin lvm ls lists what they hold`,
    );
  }
  const pools = [...a.vg.lvs.values()].filter((l) => l.segments[0]?.type === 'thin-pool').map((l) => `${printable(a.vg.name)}/${printable(l.name)}`);
  throw new ArgumentError(
    `${printable(vgPool)} is ${seg ? 'not a thin pool' : 'no LV'} of VG ${printable(a.vg.name)} (${pools.length ? `its thin pools: ${pools.join(', ')}` : 'it has no thin pool'})`,
  );
}

/**
 * The pool's metadata says fewer data blocks than its data LV holds: an
 * lvm shrink committed its metadata and stopped before the VG text. lvm2
 * activates it as it is (the kernel grows the count back to the LV), so it
 * is only said, with the command that finishes the shrink.
 */
function unfinishedShrink(md: Metadata, data: ByteSource | undefined, images: readonly string[], vgPool: string): Problem | undefined {
  if (!data) return undefined;
  const sb = md.superblock;
  const bs = sb.dataBlockSize * 512;
  const said = sb.dataSpaceMapRoot.nrBlocks;
  const held = Math.floor(data.size / bs);
  if (bs === 0 || said >= held) return undefined;
  return {
    code: 'unfinished_shrink',
    severity: 'info',
    summary: `the pool's metadata says ${said} data blocks (${said * bs} bytes), its data LV holds ${held}: a dmthin lvm shrink to ${said * bs} bytes stopped after its metadata, before LVM's VG text (lvm2 activates the pool as it is; the kernel grows the metadata's count back to the LV)`,
    fix: `dmthin lvm shrink ${images.join(' ')} ${vgPool} --size ${said * bs} finishes it (the extents are then free in the VG)`,
    facts: { metadataBlocks: said, dataLvBlocks: held },
  };
}

/** `use` on the pool's metadata, or undefined when it cannot be opened (what cannot be read is the doctor's to say, elsewhere). */
function withMetadata<T>(source: OpenPool, use: (md: Metadata) => T): T | undefined {
  let md: Metadata;
  try {
    md = openMetadata(source);
  } catch (e) {
    if (e instanceof MetadataError || e instanceof UsageError) return undefined;
    throw e;
  }
  try {
    return use(md);
  } finally {
    md.close();
  }
}

/** LVM's transaction id and thin devices against the pool metadata's. */
function readAgreement(md: Metadata, seg: Segment, thinIds: number[]): Agreement {
  let poolIds: number[] | undefined;
  try {
    poolIds = md.devices().map((d) => d.devId);
  } catch (e) {
    if (!(e instanceof MetadataError || e instanceof UsageError)) throw e;
  }
  // Without the pool's device list the sets are unknown: compared as if they agreed, flagged below.
  const a = poolAgreement(seg, thinIds, poolIds ?? thinIds, md.superblock.transactionId);
  return { ...a, devicesUnknown: poolIds === undefined };
}

/** The two sides' ids and devices; devicesUnknown when the pool's device list could not be read. */
export interface Agreement extends PoolAgreement {
  devicesUnknown?: boolean;
}

/**
 * transaction_id_mismatch as lvm2 judges it at activation: refused unless
 * the pool's id is LVM's or LVM's - 1 (and then only with messages queued
 * is it right). LVM's 0 is never checked (a pool lvm2 does not manage).
 */
export function transactionProblem(vg: string, pool: string, a: Agreement): Problem | undefined {
  const lvm = BigInt(a.lvmTransactionId);
  const k = a.metadataTransactionId;
  if (lvm === 0n || k === lvm) return undefined;
  if (k + 1n === lvm && a.pendingMessages > 0) return undefined;
  const dm = lvmDmName(vg, pool, 'tpool');
  const ahead = k > lvm ? 'the pool metadata is ahead of LVM' : 'LVM is ahead of the pool metadata';
  const by = k > lvm ? k - lvm : lvm - k;
  const unknownDevices = a.devicesUnknown === true;
  const same = !unknownDevices && sameDevices(a);
  const oneBehind = k + 1n === lvm;
  const summary =
    `LVM's VG text says transaction_id ${lvm} for ${vg}/${pool}, the pool metadata ${k}: ${ahead} by ${by}` +
    (a.pendingMessages ? ` (${a.pendingMessages} message(s) queued)` : '') +
    (oneBehind
      ? `; lvm2 still activates it (one behind is what queued messages would make good) and warns "unexpected transaction id", but the next lvcreate, lvremove or snapshot in the pool fails with "Thin pool ${dm} transaction_id is ${k}, while expected ${lvm}"`
      : `; lvm2 refuses to activate it: "Thin pool ${dm} transaction_id is ${k}, while expected ${lvm - (a.pendingMessages ? 1n : 0n)}"`);
  const list = (ids: number[]): string => ids.join(', ');
  const fix = unknownDevices
    ? "repair the metadata first (its thin devices cannot be listed), then compare again: only when both sides name the same thin devices is setting LVM's transaction_id to the pool's the fix"
    : same
      ? a.pendingMessages
        ? "LVM's queued messages are pending: do not change either side by hand; read dmthin lvm history and docs/doctor.md"
        : `both sides name the same thin devices, so only the counter differs: restore LVM's VG text with transaction_id ${k} (the kit's fixed VG text, vgcfgrestore --force)`
      : `the thin devices differ (${a.lvmOnly.length ? `only LVM names ${list(a.lvmOnly)}` : ''}${a.lvmOnly.length && a.poolOnly.length ? '; ' : ''}${a.poolOnly.length ? `only the pool has ${list(a.poolOnly)}` : ''}): one side lost commits, and editing the number would hide it; find the VG text version whose thin LVs match the pool (dmthin lvm history, vgcfgrestore --list ${vg}) and restore that`;
  return {
    code: 'transaction_id_mismatch',
    severity: oneBehind ? 'non_fatal' : 'fatal',
    summary,
    fix,
    facts: {
      lvm: a.lvmTransactionId,
      pool: Number(k),
      ahead: k > lvm ? 'pool' : 'lvm',
      by: Number(by),
      pendingMessages: a.pendingMessages,
      sameDevices: same,
      ...(a.lvmOnly.length ? { lvmOnly: a.lvmOnly.join(',') } : {}),
      ...(a.poolOnly.length ? { poolOnly: a.poolOnly.join(',') } : {}),
    },
  };
}

/** missing_pv for each PV of the VG no image holds, with what the pool and the VG's other LVs lose. */
function missingPvProblems(a: AssembledVg, pool: string): Problem[] {
  const vg = a.vg;
  const out: Problem[] = [];
  const seg = vg.lvs.get(pool)?.segments[0];
  for (const key of a.missing) {
    const ref = vg.pvs.find((p) => p.key === key);
    const on = lvsOn(vg, key);
    const role = (lv: string): string =>
      lv === seg?.metadataLv
        ? `${lv} (the pool's metadata: nothing of the pool can be read)`
        : lv === seg?.dataLv
          ? `${lv} (the pool's data: its thin LVs lose the blocks there)`
          : lv;
    const lvs = on.map((l) => `${role(l.lv)} ${l.bytes} bytes`);
    const hitsPool = on.some((l) => l.lv === seg?.metadataLv || l.lv === seg?.dataLv);
    out.push({
      code: 'missing_pv',
      severity: hitsPool ? 'fatal' : 'non_fatal',
      summary:
        `PV ${printable(key)} of VG ${printable(vg.name)} (uuid ${printable(ref?.id ?? '?')}, last seen as ${printable(ref?.device ?? '?')}) is in none of the images given` +
        (lvs.length ? `; on it: ${lvs.join(', ')}` : '; no LV lies on it'),
      fix: `add the image or disk holding PV uuid ${printable(ref?.id ?? '?')} (a ddrescue copy of the failing disk will do); only if it is gone for good, dmthin lvm export --partial saves what the other PVs hold`,
      facts: { pv: key, uuid: ref?.id ?? '', device: ref?.device ?? '' },
    });
  }
  return out;
}

/** LVs with extents on PV `key`, and how many of their bytes lie there. */
function lvsOn(vg: VolumeGroup, key: string): Array<{ lv: string; bytes: number }> {
  const extent = vg.extentSize * 512;
  const out: Array<{ lv: string; bytes: number }> = [];
  for (const lv of vg.lvs.values()) {
    let n = 0;
    for (const s of lv.segments) for (const area of s.areas) if (area.pv === key) n += (s.extentCount / s.areas.length) * extent;
    if (n > 0) out.push({ lv: lv.name, bytes: n });
  }
  return out;
}

/**
 * Adds to each thin LV's lost ranges the bytes of its mapped blocks that
 * lay on a missing PV (its data LV read partial); a device the report does
 * not list yet is added with its name and size.
 */
function addMissingPvLosses(report: DoctorReport, a: AssembledVg, pool: string, names: ReadonlyMap<number, { name: string; size: number }>): void {
  const seg = a.vg.lvs.get(pool)?.segments[0];
  if (!seg?.dataLv || !seg.metadataLv) return;
  const data = new LvSource(a.vg, seg.dataLv, a.pvs, `pool ${printable(pool)}'s data LV`, true);
  if (data.notAllThere === undefined) return;
  let md: Metadata | undefined;
  try {
    md = Metadata.open(new LvSource(a.vg, seg.metadataLv, a.pvs, `pool ${printable(pool)}'s metadata LV`));
    const bs = md.dataBlockBytes();
    for (const dev of md.devices()) {
      if (dev.mappingRoot === undefined) continue;
      let entry: DeviceReport | undefined = report.devices.find((d) => d.deviceId === dev.devId);
      const ranges: Array<{ from: number; to: number }> = (entry?.lost ?? []).map((r) => ({ from: r.offset, to: r.offset + r.length }));
      const before = ranges.length;
      forEachMapping(md.reader, dev.mappingRoot, dev.devId, (vblock, block) => {
        for (const r of data.lostIn(block * bs, bs)) ranges.push({ from: vblock * bs + (r.from - block * bs), to: vblock * bs + (r.to - block * bs) });
      });
      if (ranges.length === before) continue;
      if (!entry) {
        const n = names.get(dev.devId);
        entry = { deviceId: dev.devId, ...(n ? { name: n.name, size: n.size } : {}), mappedBytes: dev.mappedBlocks * bs, lost: [], recoveredFromOlder: 0 };
        report.devices.push(entry);
        report.devices.sort((x, y) => x.deviceId - y.deviceId);
      }
      ranges.sort((x, y) => x.from - y.from);
      entry.lost = merge(ranges);
    }
  } catch (e) {
    if (!(e instanceof MetadataError || e instanceof UsageError)) throw e;
    // The raw doctor names the damage; the losses on the missing PV then stay unnamed here.
  } finally {
    md?.close();
  }
}

function merge(ranges: Array<{ from: number; to: number }>): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.from <= last.offset + last.length) last.length = Math.max(last.length, r.to - last.offset);
    else out.push({ offset: r.from, length: r.to - r.from });
  }
  return out;
}

export interface LvmPlanContext {
  vg: VolumeGroup;
  pool: string;
  /** The metadata LV's bytes. */
  metadataBytes: number;
  dataBytes: number;
  images: readonly string[];
  /** The pool's dm name when the kernel runs it. */
  running?: string;
  /** The kit's fixed VG text (a file name in the kit). */
  vgTextFile?: string;
  chunkBytes?: number;
  /** What each thin device that lost bytes begins with (a partition table, or not), by device id: the proving step fscks accordingly. */
  layouts?: ReadonlyMap<number, GuestLayout>;
}

/** Candidate blocks given a dd line each in the plan (the kit holds every one). */
const MAX_DD = 20;

/** Codes whose fix is new metadata swapped in. */
const METADATA_CODES = new Set(['superblock', 'lost_mappings', 'leaked_blocks', 'metadata_space_exhausted']);

/**
 * The LVM plan: the steps in the order that loses nothing, in lvm2's
 * commands with the real names and sizes. KIT stands for the kit's
 * directory (`-o DIR`).
 */
export function lvmPlan(report: DoctorReport, c: LvmPlanContext): PlanStep[] {
  const bad = report.problems.filter((p) => p.severity !== 'info');
  if (bad.length === 0) return [];
  const vg = c.vg.name;
  const vp = `${vg}/${c.pool}`;
  // LVM's own text left behind on a PV, and nothing else: the pool is sound; lvm2 brings the areas level.
  if (bad.every((p) => p.code === 'old_metadata_area'))
    return [
      {
        step: `Bring every metadata area of VG ${vg} to its newest text: a stopped dmthin lvm shrink finishes it when run again with the same --size; otherwise lvm2 writes the newest text everywhere. The pool itself is sound and may be activated`,
        command: `vgck --updatemetadata ${vg}`,
      },
    ];
  const codes = new Set(bad.map((p) => p.code));
  const meta = c.vg.lvs.get(c.pool)?.segments[0]?.metadataLv;
  const steps: PlanStep[] = [];
  const tidProblem = bad.find((p) => p.code === 'transaction_id_mismatch');
  const metadataWork = bad.some((p) => METADATA_CODES.has(p.code));
  const needsCheckOnly = codes.has('needs_check_flag') && !metadataWork;
  if (c.running) {
    // Nothing can be copied consistently from a pool the kernel runs: it stops first.
    steps.push({
      step: `The kernel runs the pool (${c.running}): stop what uses its thin LVs, unmount them, and deactivate it`,
      command: `lvchange -an ${vp}`,
    });
  }
  if ((metadataWork || needsCheckOnly) && meta) {
    const m = printable(meta);
    steps.push({
      step:
        `${c.running ? 'Then' : 'First'}, copy the pool's metadata LV (${m}, ${c.metadataBytes} bytes) byte for byte, damaged blocks included: lvm2 activates it alone, read-only, while the pool is inactive. ` +
        `The kit's original-metadata.bin is the same copy read from the images; its original-metadata.pack is only a compact copy of the metadata blocks that check (the damaged blocks are not in it: they unpack as zeros). Keep the copy until the repaired pool is proven`,
      command: [`lvchange -ay -y ${vg}/${m}`, `dd if=/dev/${vg}/${m} of=${m}.before-doctor bs=1M conv=sparse`, `lvchange -an ${vg}/${m}`].join('\n'),
    });
  }
  steps.push({
    step: "Keep LVM's current VG text, before anything changes it (vgcfgrestore -f puts it back)",
    command: `vgcfgbackup -f ${vg}.before.vg ${vg}`,
  });
  if (!c.running)
    steps.push({
      step: `Do not activate ${vp} (no vgchange -ay, lvchange -ay, reboot into auto-activation) until the last steps: an activated pool hands out the blocks that may still hold lost data`,
    });
  if (codes.has('missing_pv') && report.devices.length === 0) {
    // The metadata could not be read at all: no thin LV can be exported, partial or not.
    steps.push({
      step: `Bring back the missing PV (attach the disk, or a ddrescue copy of it) and run this doctor again with its image: the pool's metadata LV lies on it, so nothing of ${vp}'s thin LVs can be read without it, not even in part (lvm export --partial needs the metadata whole)`,
    });
    return steps;
  }
  if (codes.has('missing_pv')) {
    steps.push({
      step: 'Bring back the missing PV before anything else (attach the disk, or a ddrescue copy of it), then run this doctor again with its image; only if it is gone for good: save what the other PVs hold of each thin LV (dmthin lvm export --partial lists what is lost), and only then let LVM forget it',
      command: partialExports(report, c),
    });
    if (bad.every((p) => p.code === 'missing_pv')) return steps;
  }
  if (metadataWork || needsCheckOnly) {
    steps.push({
      step: 'With no kit yet, make it (the repaired metadata, the candidate blocks and the copies of the original, read from the images)',
      command: `dmthin lvm doctor ${c.images.join(' ')} ${vp} -o KIT`,
    });
  }
  if (report.candidates.length > 0) {
    const dataLv = c.vg.lvs.get(c.pool)?.segments[0]?.dataLv ?? `${c.pool}_tdata`;
    const bs = c.chunkBytes ?? 0;
    steps.push({
      step:
        `Copy the ${report.candidates.length} candidate data block(s) off the pool's disks before anything activates the pool: the repair counts them free, and the first writes after activation overwrite them. ` +
        `The kit's candidates/ already holds them, read from the images; on the host, lvm2 activates ${printable(dataLv)} alone read-only (the pool stays inactive)`,
      command: bs
        ? [
            `lvchange -ay -y ${vg}/${dataLv}`,
            // Every block, one dd a line while that stays readable, else one loop over them all.
            ...(report.candidates.length <= MAX_DD
              ? report.candidates.map((x) => `dd if=/dev/${vg}/${dataLv} of=data-block-${x.dataBlock}.bin bs=${bs} skip=${x.dataBlock} count=1`)
              : [
                  `for b in ${report.candidates.map((x) => x.dataBlock).join(' ')}; do dd if=/dev/${vg}/${dataLv} of=data-block-$b.bin bs=${bs} skip=$b count=1; done`,
                ]),
            `lvchange -an ${vg}/${dataLv}`,
          ].join('\n')
        : undefined,
    });
  }
  if (tidProblem?.facts?.sameDevices === true && !tidProblem.facts.pendingMessages && c.vgTextFile) {
    steps.push({
      step: `Give LVM the pool's transaction_id (${tidProblem.facts.pool}, LVM says ${tidProblem.facts.lvm}): the kit's ${c.vgTextFile} is LVM's VG text with only that number changed. Restore it before any swap below (a VG text restored after a swap would undo it)`,
      command: `vgcfgrestore --force -f KIT/${c.vgTextFile} ${vg}`,
    });
  }
  const exhausted = bad.find((p) => p.code === 'metadata_space_exhausted');
  if (metadataWork) {
    const grow = exhausted ? Number(exhausted.facts?.growToBytes ?? c.metadataBytes * 2) : 0;
    const extent = c.vg.extentSize * 512;
    const newBytes = Math.ceil(Math.max(c.metadataBytes, grow) / extent) * extent;
    const newLv = `${c.pool}_repaired`;
    if (exhausted) {
      steps.push({
        step: `The metadata is too full for the kernel to commit: the repaired metadata goes into a larger LV (${newBytes} bytes, not ${c.metadataBytes}); never repair it into a device of the same size (it fills again at once). Grow the pool's metadata LV too, so that the spare LVM keeps for repair matches`,
        command: `lvextend --poolmetadatasize ${newBytes}b ${vp}`,
      });
    }
    steps.push({
      step: `Make an LV for the repaired metadata (${newBytes} bytes) and copy the kit's repaired.meta into it (it checks clean with both thin_checks)`,
      command: [
        `lvcreate -an -Zn -L ${newBytes}b -n ${newLv} ${vg}`,
        `lvchange -ay ${vg}/${newLv}`,
        `dd if=KIT/repaired.meta of=/dev/${vg}/${newLv} bs=1M conv=fsync`,
        `lvchange -an ${vg}/${newLv}`,
      ].join('\n'),
    });
    steps.push({
      step: `Swap it in as ${vp}'s metadata (the pool inactive). Afterwards ${vg}/${newLv} holds the OLD metadata: keep it. (Alternatively, with dmthin set as LVM's thin_repair, global/thin_repair_executable in lvm.conf as docs/lvm.md says, lvconvert --repair ${vp} repairs into the metadata spare and keeps the old as ${c.pool}_meta0${exhausted ? '; not for exhausted metadata unless the spare was grown first' : ''})`,
      command: `lvconvert -y --swapmetadata --poolmetadata ${vg}/${newLv} ${vp}`,
    });
  }
  if (codes.has('data_space_exhausted')) {
    steps.push({
      step: `The pool's data is full: grow it before activating (the VG needs free extents: vgs ${vg}; vgextend ${vg} with a new PV if not)`,
      command: `lvextend -L +${Math.max(c.dataBytes >> 2, 1 << 30)}b ${vp}`,
    });
  }
  if (codes.has('data_device_too_small')) {
    steps.push({
      step: `The data LV is shorter than the pool's metadata counts: give the whole disk (an image cut short loses the blocks past its end) before activating`,
    });
  }
  if (tidProblem && tidProblem.severity === 'fatal' && !(tidProblem.facts?.sameDevices === true && !tidProblem.facts.pendingMessages && c.vgTextFile)) {
    steps.push({
      step: `Settle the transaction_id mismatch before activating (${tidProblem.fix}): lvm2 will not activate the pool until LVM's id and the pool's agree`,
      command: `dmthin lvm history ${c.images.join(' ')}\nvgcfgrestore --list ${vg}`,
    });
  }
  steps.push({
    step: `Activate the pool and its thin LVs (lvm2 runs thin_check first${needsCheckOnly ? '; with thin_check_options = [ "-q", "--clear-needs-check-flag" ] it clears the needs_check flag of metadata that checks clean' : ''})`,
    command: `lvchange -ay ${vp}\nvgchange -ay ${vg}`,
  });
  const lossy = report.devices.filter((d) => d.lost.length > 0);
  const checks = lossy.map((d) => fsckLines(`/dev/${d.name ?? `${vg}/LV`}`, c.layouts?.get(d.deviceId) ?? { kind: 'plain' }));
  const layoutWords = checks
    .map((x) => x.words)
    .filter((w) => w !== '')
    .map((w) => w[0].toUpperCase() + w.slice(1));
  steps.push({
    step:
      `Prove the pool: it is active and healthy, and each thin LV reads${lossy.length ? ` (${lossy.map((d) => d.name ?? `device ${d.deviceId}`).join(', ')} lost bytes: fsck -n them, or the kit's inferred images; an image that begins with a partition table is mapped the same way, losetup -P --show -f --read-only IMAGE)` : ''}` +
      (layoutWords.length ? `. ${layoutWords.join('. ')}` : ''),
    command: [`dmthin pool doctor ${lvmDmName(vg, c.pool, 'tpool')}`, ...checks.flatMap((x) => x.commands)].join('\n'),
  });
  if (metadataWork) {
    steps.push({
      step: `Only once the repaired pool is proven: remove the LV holding the old metadata (${vg}/${c.pool}_repaired after the swap; ${vg}/${c.pool}_meta0 after lvconvert --repair). Not before: it is the only copy of what was there`,
      command: `lvremove -y ${vg}/${c.pool}_repaired`,
    });
  }
  return steps;
}

/**
 * What each thin device that lost bytes begins with, read through the
 * pool's own mappings (the metadata as found: a node that cannot be read
 * leaves it unknown), never through bytes the report counts lost.
 */
export function guestLayouts(source: OpenPool, report: DoctorReport): Map<number, GuestLayout> {
  const out = new Map<number, GuestLayout>();
  const lossy = report.devices.filter((d) => d.lost.length > 0 && d.size !== undefined);
  if (lossy.length === 0) return out;
  const unknown = (why: string): Map<number, GuestLayout> => new Map(lossy.map((d) => [d.deviceId, { kind: 'unknown', why }]));
  const data = source.data;
  if (!data) return unknown(source.dataProblem ?? "the pool's data LV is not in the images");
  let md: Metadata;
  try {
    md = openMetadata(source);
  } catch (e) {
    if (e instanceof MetadataError || e instanceof UsageError) return unknown('the superblock cannot be read');
    throw e;
  }
  try {
    let roots: Map<number, number | undefined>;
    try {
      roots = new Map(md.devices().map((d) => [d.devId, d.mappingRoot]));
    } catch (e) {
      if (!(e instanceof MetadataError || e instanceof UsageError)) throw e;
      return unknown("the pool's device list cannot be read");
    }
    const bs = md.dataBlockBytes();
    for (const dev of lossy) {
      const root = roots.get(dev.deviceId);
      const read = (offset: number, length: number): Uint8Array => {
        const outBuf = new Uint8Array(length);
        for (let pos = offset; pos < offset + length; ) {
          const v = Math.floor(pos / bs);
          const within = pos - v * bs;
          const n = Math.min(bs - within, offset + length - pos);
          if (dev.lost.some((r) => pos < r.offset + r.length && pos + n > r.offset)) throw new Unreadable(`its bytes ${pos}..${pos + n - 1} are lost`);
          const block = lookupMappingKnown(md.reader, root, v);
          if (block === undefined) throw new Unreadable(`a node on the way to virtual block ${v}'s mapping cannot be read`);
          if (block !== null) {
            if ((block + 1) * bs > data.size) throw new Unreadable(`virtual block ${v} maps to data block ${block}, past the data LV's end`);
            data.readAt(outBuf.subarray(pos - offset, pos - offset + n), block * bs + within);
          }
          pos += n;
        }
        return outBuf;
      };
      out.set(dev.deviceId, guestLayout(read, must(dev.size, 'a thin LV size')));
    }
  } finally {
    md.close();
  }
  return out;
}

/** lvm export --partial of each thin LV that loses bytes on the missing PV (of every thin LV when the losses are unknown). */
function partialExports(report: DoctorReport, c: LvmPlanContext): string {
  const lossy = report.devices.filter((d) => d.lost.length > 0 && d.name);
  const lvs = lossy.length
    ? lossy.map((d) => must(d.name, 'a lossy device name'))
    : [...c.vg.lvs.values()].filter((l) => l.segments[0]?.thinPool === c.pool).map((l) => `${c.vg.name}/${l.name}`);
  return lvs.map((lv) => `dmthin lvm export ${c.images.join(' ')} ${lv} --partial -o ${lv.replace(/^.*\//, '')}.img`).join('\n');
}

/** The kit's LVM extras (the fixed VG text), written into `dir`; the raw kit writer lists them beside its own. */
export function lvmKitExtras(dir: string, doctor: LvmPoolDoctor): KitFile[] {
  if (!doctor.vgText) return [];
  writeFileSync(join(dir, doctor.vgText.file), doctor.vgText.text);
  return [{ path: doctor.vgText.file, role: 'vg_text' }];
}
