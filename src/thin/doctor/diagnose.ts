/**
 * doctor's judgement of a pool from any source: every problem with its
 * code, severity and minimal fix, what each device lost in bytes, the data
 * blocks that may still hold lost data, and the steps to take. Read-only:
 * nothing is written here (kit.ts writes the kit when asked).
 *
 * The source-specific doctors (lvm, docker, live) call this with the
 * user's names for the devices and add what only they can see
 * (transaction id against LVM's, a missing PV, the kernel's status).
 *
 * How: check (as thin_check) judges the metadata; when the superblock or
 * the trees are damaged, salvage (repair's read-only half) says what the
 * best repair gives back. Check's knock-on findings (reference counts and
 * leaks that follow from one lost node) are counted under that cause.
 */
import { journalPath, pendingCut } from '../shrink/guards.js';
import { BlockReader } from '../../io/block-reader.js';
import { type ByteSource, FileSource } from '../../io/byte-source.js';
import { UsageError } from '../../errors.js';
import { MetadataError } from '../../format/errors.js';
import { NEEDS_CHECK_FLAG, parseSuperblock } from '../../format/superblock.js';
import { TREE_PROBLEM_CODES } from '../../pdata/btree/problem.js';
import { collectU64Leaves } from '../../pdata/btree/traversal.js';
import { type CheckResult, type Finding, checkBlocks } from '../check/check.js';
import { type Salvage, salvage } from '../repair/salvage.js';
import { readSuperblockEvidence } from '../repair/superblock-evidence.js';
import { metadataName, type PoolSource } from '../pool-source.js';
import { type MatchDevice, matchCandidates } from './candidates.js';
import { describeLost } from './lost-holds.js';
import { saidMappedBlocks, toBytes } from '../repair/lost.js';
import { lossWithEnd, repairedDevice } from '../repair/losses.js';
import { type OlderEntry, scanLeafEntries } from './older-leaves.js';
import { rawPlan } from './plan.js';
import { RestampedSuperblock } from './restamped.js';
import type { Candidate, DeviceReport, DoctorReport, PlanStep, Problem } from './report.js';
import { type MetadataSpace, commitShadowBlocks, metadataSpace } from './space.js';

/** A device's name and size in the user's terms (a thin LV, a container). */
export interface DeviceName {
  name: string;
  /** Virtual size in bytes. */
  size?: number;
}

export interface DiagnoseOptions {
  /** The user's names for device ids. */
  names?: ReadonlyMap<number, DeviceName>;
  /** Problems the caller already found (a missing PV, LVM's transaction id): judged with the rest. */
  problems?: readonly Problem[];
  /** Called as each stage starts (for progress on a TTY). */
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** The data block size in sectors, when the superblock lost it (as repair's --data-block-size); the kit's repair uses it too. */
  dataBlockSize?: number;
}

/** What the plan and the kit need beyond the report. */
export interface Diagnosis {
  report: DoctorReport;
  /** Data block size in bytes, when known. */
  blockBytes?: number;
  /** The data block size the caller gave (sectors): the kit's repair needs it where the superblock lost it. */
  dataBlockSize?: number;
  metadataBlocks: number;
  /** Whether the metadata must be rebuilt (repair), not only have a flag cleared or leaks given back. */
  needsRepair: boolean;
  /** When the metadata is too full to commit: how large to repair it into. */
  space?: MetadataSpace;
  nrDataBlocks?: number;
  /** Why repair cannot rebuild this metadata as it is (a lost block size, nothing usable): no repair step, no repaired metadata in the kit. */
  repairError?: string;
}

/** Everything doctor can say about `source`'s pool, without writing anything. The plan is the raw pool's; callers for LVM and Docker replace it (planFor). */
export function diagnose(source: PoolSource, options: DiagnoseOptions = {}): DoctorReport {
  return examine(source, options).report;
}

/** Check codes that follow from a lost tree node when one is lost. */
const FOLLOWER_CODES = new Set(['ref-count-mismatch', 'leaked-blocks', 'mapped-blocks-mismatch', 'device-without-details', 'device-without-mappings']);
const TREE_CODES = new Set<string>(TREE_PROBLEM_CODES);
const MAPPING_AREAS = new Set(['devices', 'mappings']);

/** diagnose() with what the plan and kit need. */
export function examine(source: PoolSource, options: DiagnoseOptions = {}): Diagnosis {
  const stage = options.onStage ?? ((): void => {});
  const problems: Problem[] = [...(options.problems ?? [])];
  const reader = new BlockReader(source.metadata);
  let data: ByteSource | undefined;
  try {
    const unfinished = unfinishedShrink(source, reader);
    if (unfinished) problems.push(unfinished);
    if (source.data !== undefined) data = typeof source.data === 'string' ? new FileSource(source.data, 'data') : source.data;
    return judge(source, reader, data, problems, options, stage);
  } finally {
    reader.close();
    if (typeof source.data === 'string') data?.close();
  }
}

/** A raw shrink that committed and was stopped before its cut: the pool is sound, the space not yet given back. */
function unfinishedShrink(source: PoolSource, reader: BlockReader): Problem | undefined {
  if (typeof source.metadata !== 'string' || typeof source.data !== 'string' || reader.nrBlocks === 0) return undefined;
  // The committed size, from the superblock as it stands (damaged, it matches no record; judge says why).
  const cut = pendingCut(source.metadata, source.data, parseSuperblock(reader.read(0)).dataSpaceMapRoot.nrBlocks);
  if (cut === undefined) return undefined;
  return {
    code: 'unfinished_shrink',
    severity: 'info',
    summary: `a dmthin shrink of ${source.data} to ${cut} bytes committed the pool's metadata and was stopped before cutting the file (${journalPath(source.data)} records it)`,
    fix: `dmthin shrink --metadata ${source.metadata} --data ${source.data} --size ${cut} finishes it`,
  };
}

function judge(
  source: PoolSource,
  reader: BlockReader,
  data: ByteSource | undefined,
  problems: Problem[],
  options: DiagnoseOptions,
  stage: (s: string) => void,
): Diagnosis {
  const meta = metadataName(source);
  const pool = { kind: source.kind, name: source.name, ...(source.running ? { running: source.running } : {}) };
  if (reader.nrBlocks === 0) {
    problems.push({
      code: 'superblock',
      severity: 'fatal',
      summary: `${meta} is empty: there is no pool metadata to examine`,
      fix: 'find the real metadata device',
    });
    return finish(source, { pool, problems, devices: [], candidates: [] }, { metadataBlocks: 0, needsRepair: false, repairError: `${meta} is empty` });
  }
  let { result: chk } = checkBlocks(reader, { onStage: stage });
  const ev = readSuperblockEvidence(reader);
  const superblockFinding = chk.findings.find((f) => f.code === 'superblock');
  if (ev.state === 'damaged' && superblockFinding && ev.sb?.blocknr === 0) {
    // A torn superblock whose fields hold: judge the rest as repair will read it, the superblock's finding kept.
    const view = new BlockReader(new RestampedSuperblock(source.metadata));
    try {
      const rest = checkBlocks(view, { onStage: stage }).result;
      if (!rest.findings.some((f) => f.code === 'superblock' || f.code === 'superblock-field'))
        chk = { ...rest, findings: [superblockFinding, ...rest.findings] };
    } finally {
      view.close();
    }
  }
  const treeDamage = chk.findings.filter((f) => TREE_CODES.has(f.code) && MAPPING_AREAS.has(f.area));
  const fieldDamage = chk.findings.filter((f) => f.code === 'superblock-field');
  const needsSalvage = ev.state !== 'valid' || fieldDamage.length > 0 || treeDamage.length > 0 || chk.findings.some((f) => f.code.startsWith('device-without'));

  let s: Salvage | undefined;
  let salvageError: string | undefined;
  const said = ev.sb ? saidMappedBlocks(reader, ev.sb.detailsRoot) : new Map<number, number>();
  if (needsSalvage) {
    stage('working out what the best repair gives back');
    try {
      s = salvage(reader, { onProgress: options.onProgress, dataBlockSize: options.dataBlockSize });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      salvageError = e.message;
    }
  }
  const dbs = s?.header.dataBlockSize ?? ev.dataBlockSize ?? options.dataBlockSize;
  const blockBytes = dbs === undefined ? undefined : dbs * 512;
  const nrDataBlocks = ev.nrDataBlocks ?? s?.header.nrDataBlocks;
  // The data, when it holds every data block: what lost ranges held, their device's size and candidates are read from it.
  const whole = blockBytes ? dataWhole(data, nrDataBlocks, blockBytes) : undefined;
  const nameOf = (id: number): { name?: string; size?: number } => {
    const n = options.names?.get(id);
    return n ? { name: n.name, ...(n.size !== undefined ? { size: n.size } : {}) } : {};
  };

  // Devices: from the salvage when the trees are damaged, else from the details as check read them.
  const devices: DeviceReport[] = [];
  const matchDevices: MatchDevice[] = [];
  let inexact = false;
  if (s) {
    for (const d of s.devices) {
      const n = nameOf(d.devId);
      const sizeBlocks = n.size !== undefined && blockBytes ? Math.ceil(n.size / blockBytes) : undefined;
      const open = blockBytes && whole && sizeBlocks === undefined ? repairedDevice(reader, d, whole, blockBytes) : undefined;
      const loss = lossWithEnd(d, sizeBlocks, d.detailsSource === 'newest' ? said.get(d.devId) : undefined, open, blockBytes ?? 0);
      inexact ||= loss.inexact && loss.blocks.length > 0;
      const report: DeviceReport = {
        deviceId: d.devId,
        ...n,
        mappedBytes: (d.intact + d.recovered.length) * (blockBytes ?? 0),
        lost: toBytes(loss.blocks, blockBytes ?? 0),
        ...(loss.missing !== undefined && d.holes.length > 0 ? { lostMappedBytes: loss.missing * (blockBytes ?? 0) } : {}),
        ...(loss.toEnd ? { lostToEnd: true } : {}),
        recoveredFromOlder: d.recovered.length,
      };
      devices.push(report);
      const recovered = new Map<number, number>();
      for (let i = 0; i < d.recovered.length; i++) recovered.set(d.recovered.keys[i], d.recovered.data[i]);
      matchDevices.push({ report, root: d.root, recovered });
    }
  } else if (ev.sb && chk.findings.every((f) => f.code !== 'superblock')) {
    const roots = new Map(safeTopLevel(reader, ev.sb.mappingRoot));
    for (const [id, mapped] of [...said].sort((a, b) => a[0] - b[0])) {
      const report: DeviceReport = { deviceId: id, ...nameOf(id), mappedBytes: mapped * (blockBytes ?? 0), lost: [], recoveredFromOlder: 0 };
      devices.push(report);
      matchDevices.push({ report, root: roots.get(id), recovered: new Map() });
    }
  }

  // The superblock.
  if (ev.state !== 'valid' || fieldDamage.length > 0) {
    const survives =
      ev.state === 'damaged'
        ? `its magic and fields hold (${ev.why}), so its roots, sizes and transaction id are used`
        : ev.state === 'lost'
          ? `it is lost (${chk.findings.find((f) => f.code === 'superblock')?.message ?? ev.why})${s ? `; the trees were found by scanning every block: ${s.devices.length} devices, ${s.stats.intactMappings} mappings${rivals(s)}` : ''}`
          : fieldDamage.map((f) => f.message).join('; ');
    const blockSizeLost = salvageError !== undefined && /data block size/.test(salvageError);
    problems.push({
      code: 'superblock',
      severity: 'fatal',
      summary: `the superblock of ${meta} is damaged: ${survives}${salvageError ? `; ${salvageError}` : ''}`,
      fix: blockSizeLost
        ? "repair into a new metadata device with --data-block-size (the pool's chunk size: lvs -o+chunk_size, or the 4th argument of its dmsetup table line)"
        : salvageError
          ? 'nothing can be rebuilt from this: make sure it is the pool metadata device (whole, not an XML dump), else restore a backup (thin_dump XML, a pack)'
          : 'repair into a new metadata device',
      facts: { state: ev.state },
    });
  }

  // Lost mappings, with check's knock-on findings as followers.
  const lossy = devices.filter((d) => d.lost.length > 0);
  const treeLost = s ? s.devices.some((d) => d.holes.length > 0) || treeDamage.length > 0 : treeDamage.length > 0;
  const covered = new Set<Finding>([...fieldDamage, ...chk.findings.filter((f) => f.code === 'superblock')]);
  if (treeLost || s?.notes.some((n) => n.startsWith('device details tree') || n.startsWith('top level'))) {
    for (const f of treeDamage) covered.add(f);
    const followers = followerCounts(chk);
    for (const f of chk.findings) if (FOLLOWER_CODES.has(f.code)) covered.add(f);
    const lostBytes = lossy.reduce((a, d) => a + d.lost.reduce((x, r) => x + r.length, 0), 0);
    const recovered = devices.reduce((a, d) => a + d.recoveredFromOlder, 0);
    const nodes = new Set(treeDamage.map((f) => f.block));
    const who = lossy.map(
      (d) =>
        `${deviceLabel(d)}: ${d.lost.length} range${d.lost.length === 1 ? '' : 's'}, ${d.lost.reduce((x, r) => x + r.length, 0)} bytes in all` +
        (d.lostMappedBytes !== undefined ? `, ${d.lostMappedBytes} of them written,` : ''),
    );
    problems.push({
      code: 'lost_mappings',
      severity: 'fatal',
      summary:
        `${nodes.size || 'some'} node${nodes.size === 1 ? '' : 's'} of the mapping or device details trees cannot be read` +
        (lossy.length > 0 ? `; after the best repair ${who.join('; ')} read as zeros` : '; the best repair loses no mapping') +
        (inexact ? " (a lost node's whole key range is counted: nothing says which of its blocks were written)" : '') +
        `; ${recovered} mappings come back from older copies`,
      fix: 'save the candidate data blocks, then repair into a new metadata device',
      ...(followers.length > 0 ? { followers } : {}),
      facts: { lostBytes, recoveredFromOlder: recovered, damagedNodes: nodes.size },
    });
  }

  // needs_check.
  if (ev.sb && ev.state !== 'lost' && (ev.sb.flags & NEEDS_CHECK_FLAG) !== 0) {
    problems.push({
      code: 'needs_check_flag',
      severity: 'fatal',
      summary:
        'the superblock has needs_check set: the kernel aborted a transaction (I/O error or no metadata space) and will not let the pool write until the metadata is checked',
      fix: 'when nothing else is wrong: dmthin check --clear-needs-check-flag; otherwise the repair clears it',
    });
  }

  // Leaks without a lost node.
  const leakedData = chk.leakedDataBlocks ?? 0;
  const leakedMeta = chk.leakedMetadataBlocks ?? 0;
  if (!treeLost && (leakedData > 0 || leakedMeta > 0)) {
    for (const f of chk.findings) if (f.code === 'leaked-blocks') covered.add(f);
    problems.push({
      code: 'leaked_blocks',
      severity: 'non_fatal',
      summary:
        `${leakedData} data and ${leakedMeta} metadata blocks are leaked (counted used, used by nothing): thin_check 0.9 passes them, ` +
        '1.x fails them, so LVM with 1.x will not activate the pool; a leaked data block may hold what an aborted commit wrote',
      fix: 'save the leaked data blocks, then give them back (dmthin check --auto-repair) or repair',
      facts: { data: leakedData, metadata: leakedMeta },
    });
  }

  // Metadata space.
  let space: MetadataSpace | undefined;
  if (ev.sb && chk.metadataFreeBlocks !== undefined) {
    const nrBlocks = ev.sb.metadataSpaceMapRoot.nrBlocks;
    const roots = safeTopLevel(reader, ev.sb.mappingRoot).map(([, r]) => r);
    const m = metadataSpace(nrBlocks, chk.metadataFreeBlocks, commitShadowBlocks(reader, ev.sb, roots));
    if (m.exhausted) {
      space = m;
      problems.push({
        code: 'metadata_space_exhausted',
        severity: 'fatal',
        summary:
          `${m.free} of ${m.nrBlocks} metadata blocks are free; the kernel keeps ${m.reserve} in reserve, leaving ${m.usable}, ` +
          `and one commit shadows about ${m.shadow}: the pool cannot commit (out-of-metadata-space mode, or an aborted commit and needs_check)`,
        fix: `repair into a larger metadata device (${m.growTo} blocks, ${mib(m.growTo * 4096)}); never into one of the same size`,
        facts: { free: m.free, nrBlocks: m.nrBlocks, reserve: m.reserve, shadow: m.shadow, growToBytes: m.growTo * 4096 },
      });
    } else if (m.low) {
      space = m;
      problems.push({
        code: 'metadata_space_exhausted',
        severity: 'non_fatal',
        summary:
          `${m.free} of ${m.nrBlocks} metadata blocks are free, below the kernel's low-water mark of ${Math.min(1024, Math.floor(m.nrBlocks / 4))}: ` +
          `a burst of writes can still run it out (a real kernel aborted its commit at 96 of 512 free), setting needs_check and leaking blocks`,
        fix: `grow the metadata (${m.growTo} blocks, ${mib(m.growTo * 4096)}) before the pool takes writes again; repaired metadata goes into a device of that size`,
        facts: { free: m.free, nrBlocks: m.nrBlocks, reserve: m.reserve, shadow: m.shadow, growToBytes: m.growTo * 4096 },
      });
    }
  }

  // Data space.
  if (ev.sb && chk.dataBlocksUsed !== undefined && nrDataBlocks !== undefined && chk.dataBlocksUsed >= nrDataBlocks && nrDataBlocks > 0) {
    problems.push({
      code: 'data_space_exhausted',
      severity: 'non_fatal',
      summary: `all ${nrDataBlocks} data blocks are in use: writes to unprovisioned blocks queue or fail (out-of-data-space mode)`,
      fix: 'grow the data device, then reload the pool table so the kernel extends the data space map',
      facts: { nrDataBlocks },
    });
  }
  if (data && blockBytes && nrDataBlocks !== undefined && !(data instanceof FileSource && data.isBlockDevice && data.size === 0)) {
    const need = nrDataBlocks * blockBytes;
    if (data.size < need) {
      problems.push({
        code: 'data_device_too_small',
        severity: 'fatal',
        summary: `the data ${data.name} is ${data.size} bytes, shorter than the pool's ${nrDataBlocks} data blocks of ${blockBytes} bytes (${need} bytes): the kernel will not load the pool (dm-thin.c: pool target too small)`,
        fix: `give the pool its whole data device back (at least ${need} bytes); never repair the metadata to a smaller nr_data_blocks while data is mapped there`,
        facts: { size: data.size, needed: need },
      });
    }
  }

  // Check's other findings, grouped by code.
  const rest = new Map<string, Finding[]>();
  for (const f of chk.findings) {
    if (covered.has(f) || f.code === 'leaked-blocks') continue;
    const list = rest.get(f.code) ?? [];
    list.push(f);
    rest.set(f.code, list);
  }
  for (const [code, list] of rest) {
    const severity =
      code === 'metadata-short' || list.some((f) => f.severity === 'fatal') ? 'fatal' : list.some((f) => f.severity === 'non-fatal') ? 'non_fatal' : 'info';
    const count = code === 'ref-count-mismatch' ? (chk.badCounts?.data ?? 0) + (chk.badCounts?.metadata ?? 0) : list.length;
    problems.push({
      code,
      severity,
      summary: `${list[0].message}${count > 1 ? ` (and ${count - 1} more like it)` : ''}`,
      fix: code === 'metadata-short' ? 'give the metadata device its full size back' : 'repair into a new metadata device',
      facts: { count },
    });
  }

  // Candidates: counted used (once or more: a block only lost leaves shared is
  // counted 2+), mapped by nothing after the best repair.
  const candidates: Candidate[] = [];
  if (blockBytes && chk.leaks) {
    const recovered = new Set<number>();
    for (const d of s?.devices ?? []) for (let i = 0; i < d.recovered.length; i++) recovered.add(d.recovered.data[i]);
    for (const b of chk.unusedData ?? chk.leaks.data) if (!recovered.has(b)) candidates.push({ dataBlock: b, offset: b * blockBytes, matches: [] });
    let older: OlderEntry[] = [];
    if (candidates.length > 0 && s?.devices.some((d) => d.holes.length > 0)) {
      stage('looking for older copies of lost mapping leaves');
      older = scanLeafEntries(reader, inAny(s.devices.flatMap((d) => d.holes)), s.live);
    }
    matchCandidates(candidates, { reader, blockBytes, devices: matchDevices, older, data: whole, onStage: stage });
  }
  // With no candidate to save, the fix says so rather than send the admin looking for one.
  if (candidates.length === 0) {
    const lost = problems.find((p) => p.code === 'lost_mappings');
    if (lost) lost.fix = 'repair into a new metadata device (no data block is left counted and unmapped: nothing to save first)';
  }
  // What the lost ranges held, where the device's filesystem can still be read.
  if (blockBytes && whole && matchDevices.some((d) => d.report.lost.length > 0)) {
    stage('reading what the lost ranges held');
    describeLost(reader, whole, blockBytes, matchDevices);
  }

  const needsRepair = problems.some(
    (p) =>
      p.code !== 'needs_check_flag' &&
      p.code !== 'leaked_blocks' &&
      p.code !== 'data_space_exhausted' &&
      p.code !== 'data_device_too_small' &&
      p.severity !== 'info' &&
      !p.code.startsWith('pool_') &&
      p.code !== 'missing_pv' &&
      p.code !== 'transaction_id_mismatch',
  );
  return finish(
    source,
    { pool, problems, devices, candidates },
    { blockBytes, dataBlockSize: options.dataBlockSize, metadataBlocks: reader.nrBlocks, needsRepair, space, nrDataBlocks, repairError: salvageError },
  );
}

function finish(source: PoolSource, r: Pick<DoctorReport, 'pool' | 'problems' | 'devices' | 'candidates'>, d: Omit<Diagnosis, 'report'>): Diagnosis {
  const report: DoctorReport = { ...r, healthy: !r.problems.some((p) => p.severity !== 'info'), plan: [] as PlanStep[] };
  const diagnosis: Diagnosis = { report, ...d };
  report.plan = rawPlan(source, diagnosis);
  return diagnosis;
}

/** The data, only when it holds every data block (a short file reads no candidate). */
function dataWhole(data: ByteSource | undefined, nrDataBlocks: number | undefined, blockBytes: number): ByteSource | undefined {
  if (!data || nrDataBlocks === undefined) return data;
  return data.size >= nrDataBlocks * blockBytes || (data instanceof FileSource && data.isBlockDevice) ? data : undefined;
}

function followerCounts(chk: CheckResult): { code: string; count: number }[] {
  const out: { code: string; count: number }[] = [];
  const bad = (chk.badCounts?.data ?? 0) + (chk.badCounts?.metadata ?? 0);
  if (bad > 0) out.push({ code: 'ref-count-mismatch', count: bad });
  const leaks = (chk.leakedDataBlocks ?? 0) + (chk.leakedMetadataBlocks ?? 0);
  if (leaks > 0) out.push({ code: 'leaked-blocks', count: leaks });
  for (const code of ['mapped-blocks-mismatch', 'device-without-details', 'device-without-mappings']) {
    const n = chk.findings.filter((f) => f.code === code).length;
    if (n > 0) out.push({ code, count: n });
  }
  return out;
}

/** A test of membership in any of `ranges`, by binary search over them merged (a leaf scan asks it of every entry). */
function inAny(ranges: ReadonlyArray<{ lo: number; hi: number }>): (k: number) => boolean {
  const merged: Array<{ lo: number; hi: number }> = [];
  for (const r of [...ranges].sort((a, b) => a.lo - b.lo)) {
    const last = merged[merged.length - 1];
    if (last && r.lo <= last.hi) last.hi = Math.max(last.hi, r.hi);
    else merged.push({ lo: r.lo, hi: r.hi });
  }
  return (k) => {
    let lo = 0;
    let hi = merged.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (k < merged[mid].lo) hi = mid - 1;
      else if (k >= merged[mid].hi) lo = mid + 1;
      else return true;
    }
    return false;
  };
}

function safeTopLevel(reader: BlockReader, root: number): Array<[number, number]> {
  try {
    return collectU64Leaves(reader, root);
  } catch (e) {
    // A damaged top level: the caller goes on without the roots.
    if (e instanceof MetadataError || e instanceof UsageError) return [];
    throw e;
  }
}

export function deviceLabel(d: Pick<DeviceReport, 'deviceId' | 'name'>): string {
  return d.name ? `${d.name} (thin device ${d.deviceId})` : `thin device ${d.deviceId}`;
}

export function mib(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

/**
 * Without a superblock, repair takes the generation whose trees hold the
 * most mappings at the newest time; another consistent generation with
 * other devices may be the newer one (devices deleted after the last
 * write leave the older, larger generation whole on disk, and nothing in
 * the trees orders the two). Named, so the admin checks the device list
 * before trusting it; salvage's note has the --override roots for each.
 */
function rivals(s: Salvage): string {
  const note = s.notes.find((n) => n.startsWith('other consistent generations with other devices exist'));
  if (!note) return '';
  return `. Repair took thin ids ${s.devices.map((d) => d.devId).join(',')}, but ${note}: check the device list against the pool's (LVM's lvs -a, Docker's metadata/ files) before trusting it`;
}
