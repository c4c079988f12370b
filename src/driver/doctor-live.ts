/**
 * `dmthin pool doctor POOL`: a running pool judged as the kernel reports
 * it (dmsetup status: fail or read-only mode, needs_check, data and
 * metadata space) and as its metadata says, read through a metadata
 * snapshot held for the while and always released. A pool in read-only or
 * fail mode takes no messages (no snapshot can be reserved) and commits
 * nothing: its metadata is read in place, as last committed. Nothing is
 * written to the pool.
 */
import { MetadataError } from '../format/errors.js';
import { UsageError } from '../errors.js';
import { type Diagnosis, examine } from '../thin/doctor/diagnose.js';
import type { DoctorReport, PlanStep, Problem } from '../thin/doctor/report.js';
import * as dm from './dmsetup.js';
import { run } from './exec.js';
import type { PoolSource } from '../thin/pool-source.js';
import { withLivePool } from './pool-source.js';
import { type ActiveThin, Pool } from './pool.js';
import { type PoolStatus, StatusError, parsePoolStatus } from './status.js';

export interface LiveDoctorOptions {
  onStage?: (stage: string) => void;
  onProgress?: (done: number, total: number) => void;
  /**
   * Called with the finished report while the metadata can still be read
   * (the snapshot held): the kit is written here. Without a source when
   * the metadata could not be read at all.
   */
  kit?: (report: DoctorReport, source?: PoolSource, diagnosis?: Diagnosis) => void;
}

export async function livePoolDoctor(name: string, options: LiveDoctorOptions = {}): Promise<DoctorReport> {
  const pool = await Pool.open(name);
  const status = await statusOf(pool);
  const table = await dm.table(name);
  const thins = await pool.activeThins();
  const fromStatus = statusProblems(pool.name, status, pool.dataBlockSize);
  if (status.heldMetadataRoot !== undefined && status.mode !== 'fail' && status.mode !== 'ro') {
    // withLivePool reads through a snapshot already held and leaves it held: it may be much older than the pool.
    fromStatus.push({
      code: 'held_metadata_snapshot',
      severity: 'info',
      summary: `a metadata snapshot of ${pool.name} was already held (block ${status.heldMetadataRoot}): the metadata was read at it, which may be older than the pool; it is someone else's to release`,
      fix: `if nothing uses it: dmsetup message ${pool.name} 0 release_metadata_snap, then run this again`,
    });
  }
  const finish = (report: DoctorReport, source?: PoolSource, diagnosis?: Diagnosis): DoctorReport => {
    report.problems = dedupe(report.problems);
    report.healthy = !report.problems.some((p) => p.severity !== 'info');
    report.plan = livePlan(report, { pool, status, table, thins });
    options.kit?.(report, source, diagnosis);
    return report;
  };
  const judge = (source: PoolSource): DoctorReport => {
    const d = examine(source, { problems: fromStatus, onStage: options.onStage, onProgress: options.onProgress });
    return finish(d.report, source, d);
  };
  let report: DoctorReport;
  try {
    if (status.mode === 'fail' || status.mode === 'ro') {
      // No message is taken in these modes and nothing is committed: the metadata on disk stays as last committed.
      await run('blockdev', ['--flushbufs', pool.metadataDevice]).catch(() => undefined);
      report = judge(inPlace(pool));
    } else report = await withLivePool(name, judge);
  } catch (e) {
    if (!(e instanceof MetadataError || e instanceof UsageError)) throw e;
    const problems: Problem[] = [
      ...fromStatus,
      {
        code: 'superblock',
        severity: 'fatal',
        summary: `the metadata of ${pool.name} (${pool.metadataDevice}) cannot be read: ${e.message}`,
        fix: `deactivate the pool and run dmthin doctor on its metadata offline`,
      },
    ];
    report = finish({ pool: { kind: 'live', name: pool.name, running: pool.name }, healthy: false, problems, devices: [], candidates: [], plan: [] });
  }
  return report;
}

/**
 * The pool's status; a line the kernel could not fill ("Error": it failed
 * to read its own metadata for it) is taken as fail mode, any other line
 * dmthin cannot read is refused in one line.
 */
async function statusOf(pool: Pool): Promise<PoolStatus> {
  const line = await dm.status(pool.name);
  try {
    return parsePoolStatus(line);
  } catch (e) {
    if (!(e instanceof StatusError)) throw e;
    if (line.trim().split(/\s+/)[3] === 'Error') return { ...parsePoolStatus(line.replace(/\bError\b.*$/, 'Fail')), raw: line.trim() };
    throw new UsageError(`pool ${pool.name}: ${e.message}: dmthin cannot read this kernel's status line`);
  }
}

/** The pool as a source read in place (no snapshot): for a pool that takes no messages and commits nothing. */
function inPlace(pool: Pool): PoolSource {
  return {
    kind: 'live',
    name: pool.name,
    metadata: pool.metadataDevice,
    data: pool.dataDevice,
    running: pool.name,
    files: [pool.metadataDevice],
    writable: false,
    repairCommand: `dmthin repair -i ${pool.metadataDevice} -o NEW`,
    close: () => {},
  };
}

/** One problem a code: the worse of two, the first on a tie (the kernel's word, then the metadata's). */
function dedupe(problems: Problem[]): Problem[] {
  const rank = { fatal: 0, non_fatal: 1, info: 2 } as const;
  const out: Problem[] = [];
  for (const p of problems) {
    const i = out.findIndex((q) => q.code === p.code);
    if (i < 0) out.push(p);
    else if (rank[p.severity] < rank[out[i].severity]) out[i] = p;
  }
  return out;
}

/** The kernel's metadata low-water mark, when the status line lacks it: min(1024 blocks, a quarter of the device) (dm-thin.c calc_metadata_threshold). */
export function metadataLowWater(totalBlocks: number): number {
  return Math.min(1024, Math.floor(totalBlocks / 4));
}

/** What the kernel's status line says is wrong, as doctor's problems. */
export function statusProblems(name: string, s: PoolStatus, blockSectors: number): Problem[] {
  const out: Problem[] = [];
  if (s.mode === 'fail') {
    out.push({
      code: 'pool_failed',
      severity: 'fatal',
      summary: `the kernel failed pool ${name} (its status says ${s.raw.split(/\s+/)[3] ?? 'Fail'}): every I/O to its thin devices errors; its metadata could not be read or committed`,
      fix: 'deactivate the pool and its thin devices, then doctor its metadata offline (the plan says how)',
      facts: { status: s.raw },
    });
    return out;
  }
  if (s.needsCheck) {
    out.push({
      code: 'needs_check_flag',
      severity: 'fatal',
      summary: `the kernel set needs_check on ${name}'s metadata: it keeps the pool read-only and lvm2 will not activate it again until the metadata is checked`,
      fix: 'deactivate the pool, check its metadata offline; clean: clear the flag (dmthin check --clear-needs-check-flag), damaged: repair it',
    });
  }
  if (s.mode === 'ro') {
    out.push({
      code: 'pool_read_only',
      severity: s.needsCheck ? 'fatal' : 'non_fatal',
      summary: `the kernel put ${name} in read-only metadata mode (after a metadata I/O error or a failed commit): reads work, writes needing a new block fail, nothing is committed`,
      fix: 'deactivate the pool and doctor its metadata offline; it comes back read-write only when reloaded on sound metadata',
    });
  }
  const bs = blockSectors * 512;
  if (s.mode === 'out_of_data_space' || (s.totalDataBlocks > 0 && s.usedDataBlocks >= s.totalDataBlocks)) {
    out.push({
      code: 'data_space_exhausted',
      severity: 'fatal',
      summary: `${name} has used all ${s.totalDataBlocks} data blocks (${s.totalDataBlocks * bs} bytes): writes needing a new block ${s.errorIfNoSpace ? 'fail at once (error_if_no_space)' : "are queued, then fail after the kernel's no_space_timeout (60 s by default)"}`,
      fix: 'grow the data device and reload the pool with the new length (the plan says how); deleting thin devices or snapshots frees blocks too',
      facts: { used: s.usedDataBlocks, total: s.totalDataBlocks },
    });
  }
  const free = s.totalMetadataBlocks - s.usedMetadataBlocks;
  const low = s.metadataLowWatermark ?? metadataLowWater(s.totalMetadataBlocks);
  if (s.totalMetadataBlocks > 0 && free <= 0) {
    out.push({
      code: 'metadata_space_exhausted',
      severity: 'fatal',
      summary: `${name}'s metadata is full (${s.usedMetadataBlocks} of ${s.totalMetadataBlocks} blocks, the kernel's reserve counted as used): its next commit fails, and the pool goes read-only with needs_check`,
      fix: 'grow the metadata device now and reload the pool (the kernel grows its space maps on resume); once it has failed, repair into a larger device, never one of the same size',
      facts: { used: s.usedMetadataBlocks, total: s.totalMetadataBlocks },
    });
  } else if (s.totalMetadataBlocks > 0 && free < low) {
    out.push({
      code: 'metadata_space_exhausted',
      severity: 'non_fatal',
      summary: `${name}'s metadata is nearly full: ${free} of ${s.totalMetadataBlocks} blocks free, below the kernel's low-water mark of ${low}`,
      fix: 'grow the metadata device and reload the pool before it runs out (the kernel grows its space maps on resume)',
      facts: { used: s.usedMetadataBlocks, total: s.totalMetadataBlocks, lowWater: low },
    });
  }
  return out;
}

interface LivePlanContext {
  pool: Pool;
  status: PoolStatus;
  /** The pool's table line. */
  table: string;
  thins: ActiveThin[];
}

/** LVM's VG/POOL from its pool device's dm name (VG-POOL-tpool, hyphens in the names doubled), or undefined. */
export function lvmPoolOf(dmName: string): string | undefined {
  const m = /^((?:[^-]|--)+)-((?:[^-]|--)+)-tpool$/.exec(dmName);
  return m ? `${m[1].replace(/--/g, '-')}/${m[2].replace(/--/g, '-')}` : undefined;
}

/** The table with its length (field 2) changed. */
function withLength(table: string, sectors: number): string {
  const f = table.trim().split(/\s+/);
  f[1] = String(sectors);
  return f.join(' ');
}

const OFFLINE_CODES = new Set(['pool_failed', 'pool_read_only', 'needs_check_flag', 'superblock', 'lost_mappings', 'leaked_blocks']);

function livePlan(report: DoctorReport, c: LivePlanContext): PlanStep[] {
  const bad = report.problems.filter((p) => p.severity !== 'info');
  if (bad.length === 0) return [];
  const name = c.pool.name;
  const vp = lvmPoolOf(name);
  const steps: PlanStep[] = [];
  const exhaustedMeta = bad.find((p) => p.code === 'metadata_space_exhausted');
  const offline = bad.some((p) => OFFLINE_CODES.has(p.code));
  if (bad.some((p) => p.code === 'data_space_exhausted')) {
    const grow = Math.max(c.status.totalDataBlocks, 1) * c.pool.dataBlockSize;
    steps.push(
      vp
        ? { step: `Grow the pool's data (the VG needs free extents: vgs; vgextend with a new PV if not)`, command: `lvextend -L +${grow * 512}b ${vp}` }
        : {
            step: `Grow the data device ${c.pool.dataDevice} by ${grow * 512} bytes (a loop file: truncate -s +${grow * 512} FILE, then losetup -c ${c.pool.dataDevice}), then load the table with the new length and resume`,
            command: `dmsetup reload ${name} --table "${withLength(c.table, c.pool.sectors + grow)}"\ndmsetup resume ${name}`,
          },
    );
  }
  if (exhaustedMeta && !offline) {
    const total = c.status.totalMetadataBlocks * 4096;
    steps.push(
      vp
        ? { step: `Grow the pool's metadata (to twice its ${total} bytes) before it runs out`, command: `lvextend --poolmetadatasize +${total}b ${vp}` }
        : {
            step: `Grow the metadata device ${c.pool.metadataDevice} to twice its ${total} bytes (a loop file: truncate -s ${2 * total} FILE, then losetup -c ${c.pool.metadataDevice}), then reload the same table: the kernel grows its space maps on resume`,
            command: `dmsetup reload ${name} --table "${c.table.trim()}"\ndmsetup resume ${name}`,
          },
    );
  }
  if (offline) {
    steps.push({
      step: `Stop what writes to ${name}'s thin devices and unmount them${c.thins.length ? ` (${c.thins.map((t) => `/dev/mapper/${t.name}`).join(', ')})` : ''}`,
    });
    steps.push(
      vp
        ? { step: `Deactivate the pool and its thin LVs`, command: `lvchange -an ${vp}` }
        : name.startsWith('docker-')
          ? { step: 'Stop Docker (it removes its devices and pool as it stops)', command: 'systemctl stop docker.socket docker.service' }
          : {
              step: 'Deactivate the thin devices, then the pool',
              command: [...c.thins.map((t) => `dmsetup remove ${t.name}`), `dmsetup remove ${name}`].join('\n'),
            },
    );
    steps.push({
      step: `Doctor the metadata offline, with its kit (its plan is the rest of the way: the original metadata copied byte for byte, the candidate blocks saved before the pool is activated again, the repaired metadata${exhaustedMeta ? ' in a larger device' : ''})`,
      command: vp ? `dmthin lvm doctor /dev/DISK... ${vp} -o KIT` : `dmthin doctor --metadata ${c.pool.metadataDevice} --data ${c.pool.dataDevice} -o KIT`,
    });
  }
  return steps;
}
