/**
 * The seed's live move, made safe: look inside a container's device on a
 * pool the kernel runs, without changing anything Docker knows.
 *
 * - activate: bring Docker's pool up from its loop files when Docker is not
 *   running (as Docker would name and configure it), or use it if it is up.
 * - snapshot: snapshot a device under a thin id free in the pool AND unknown
 *   to Docker (taken from the top of the id space; Docker allocates from
 *   next_device_id upwards), activate it under a name that marks it as
 *   dmthin's, and mount it read-only. The pool's transaction id is never
 *   touched, nor are Docker's files.
 * - release / deactivate: take all of it back.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { MAX_THIN_ID } from '../format/device-details.js';
import * as dm from '../driver/dmsetup.js';
import { run } from '../driver/exec.js';
import * as loop from '../driver/losetup.js';
import { Rollback } from '../driver/rollback.js';
import { Pool } from '../driver/pool.js';
import { check, describeFinding } from '../thin/check/check.js';
import { Metadata } from '../thin/metadata.js';
import { type DockerTree, findDockerDevice, readDockerTree } from './tree.js';

/** Docker's own pool table: 32768-block low water mark, no zeroing of new blocks. */
const DOCKER_LOW_WATER_MARK = 32768;
const DOCKER_FEATURES = ['skip_block_zeroing'];

function stateDir(): string {
  return process.env.DMTHIN_STATE_DIR ?? '/run/dmthin';
}

interface ActivationState {
  pool: string;
  loops: string[];
  root: string;
}

function stateFile(pool: string): string {
  return join(stateDir(), `${pool}.json`);
}

export function snapshotPrefix(tree: DockerTree): string {
  return `${tree.devicePrefix}-dmthin-snap-`;
}

export interface ActivateResult {
  pool: string;
  /** False when the pool was already up (Docker running) and is used as is. */
  created: boolean;
  loops: string[];
}

export async function dockerActivate(root: string): Promise<ActivateResult> {
  const tree = readDockerTree(root);
  if (await dm.exists(tree.poolName)) return { pool: tree.poolName, created: false, loops: [] };
  for (const f of [tree.metadataFile, tree.dataFile]) {
    const held = await loop.findByBackingFile(f).catch(() => []);
    if (held.length > 0)
      throw new UsageError(`${f} is already attached to ${held.map((l) => l.name).join(', ')} but no pool ${tree.poolName} exists: something else holds it`);
  }
  const c = check(tree.metadataFile);
  if (!c.ok) {
    const first = c.findings.find((f) => f.severity === 'fatal');
    throw new UsageError(
      `the thin metadata fails its check (${first ? describeFinding(first) : ''}): activating it could make things worse; repair a copy first`,
    );
  }
  const md = Metadata.open(tree.metadataFile);
  const bs = md.superblock.dataBlockSize;
  md.close();
  return Rollback.guard(async (rb) => {
    const { loops } = await Pool.activate({
      name: tree.poolName,
      metadataFile: tree.metadataFile,
      dataFile: tree.dataFile,
      dataBlockSize: bs,
      lowWaterMark: DOCKER_LOW_WATER_MARK,
      features: DOCKER_FEATURES,
    });
    // Without the record, deactivate could not tell this pool from Docker's: undo.
    for (const l of loops) rb.push(`detach ${l}`, () => loop.detach(l));
    rb.push(`remove pool ${tree.poolName}`, () => dm.remove(tree.poolName));
    mkdirSync(stateDir(), { recursive: true });
    writeFileSync(stateFile(tree.poolName), JSON.stringify({ pool: tree.poolName, loops, root } satisfies ActivationState));
    return { pool: tree.poolName, created: true, loops };
  });
}

/** Thin ids in the live pool, read through a metadata snapshot. */
async function poolIds(pool: Pool): Promise<Set<number>> {
  return pool.withMetadataSnap((dev, heldRoot) => {
    const md = Metadata.open(dev, { metadataSnap: heldRoot });
    try {
      return new Set(md.devices().map((d) => d.devId));
    } finally {
      md.close();
    }
  });
}

export interface SnapshotResult {
  id: number;
  origin: string;
  originId: number;
  dmName: string;
  device: string;
  mountPoint?: string;
  fsType?: string;
}

export async function dockerSnapshot(root: string, what: string, options: { mount?: string } = {}): Promise<SnapshotResult> {
  const tree = readDockerTree(root);
  const dev = findDockerDevice(tree, what);
  if (!(await dm.exists(tree.poolName))) throw new UsageError(`pool ${tree.poolName} is not active: run dmthin docker activate ${root} first`);
  const pool = await Pool.open(tree.poolName);
  const inPool = await poolIds(pool);
  if (!inPool.has(dev.deviceId)) throw new UsageError(`Docker's device ${dev.deviceId} (${dev.hash}) is not in the pool`);
  const docker = new Set(tree.devices.map((d) => d.deviceId));
  if (tree.transactionMetadata) docker.add(tree.transactionMetadata.deviceId);
  let id = MAX_THIN_ID;
  while (id >= 0 && (inPool.has(id) || docker.has(id) || (tree.nextDeviceId !== undefined && id === tree.nextDeviceId))) id--;
  if (id < 0) throw new UsageError('no free thin id in the pool');
  const dmName = `${snapshotPrefix(tree)}${id}`;
  const sectors = Math.ceil(dev.size / 512);
  return Rollback.guard(async (rb) => {
    const device = await pool.createAndActivateSnap(id, dev.deviceId, sectors, dmName);
    rb.push(`delete thin ${id}`, async () => void (await dm.message(tree.poolName, `delete ${id}`)));
    rb.push(`remove ${dmName}`, () => Pool.deactivateThin(dmName));
    const result: SnapshotResult = { id, origin: dev.hash, originId: dev.deviceId, dmName, device };
    if (options.mount) {
      try {
        const fsType = (await run('blkid', ['-o', 'value', '-s', 'TYPE', device])).stdout.trim();
        const opts = readOnlyMountOptions(fsType);
        mkdirSync(options.mount, { recursive: true });
        await run('mount', ['-t', fsType || 'auto', '-o', opts, device, options.mount]);
        result.mountPoint = options.mount;
        result.fsType = fsType;
      } catch (e) {
        throw new UsageError(`snapshot made but mounting it failed, so it was removed again: ${(e as Error).message}`);
      }
    }
    return result;
  });
}

/**
 * Read-only mount options for a snapshot of a filesystem that was in use:
 * its journal is dirty, and replaying it would write. ext3/4 skip the
 * journal with noload; xfs skips log recovery with norecovery and, being a
 * copy of a mounted filesystem, needs nouuid.
 */
export function readOnlyMountOptions(fsType: string): string {
  if (fsType === 'xfs') return 'ro,norecovery,nouuid';
  if (fsType === 'ext4' || fsType === 'ext3') return 'ro,noload';
  return 'ro';
}

function mountPointOf(device: string, name: string): string | undefined {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  for (const line of mounts) {
    const [src, target] = line.split(' ');
    if (src === device || src === `/dev/mapper/${name}`) return target.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** Unmounts, removes and deletes dmthin's snapshots: one (dm name or thin id) or all. */
export async function dockerRelease(root: string, which: string | 'all'): Promise<string[]> {
  const tree = readDockerTree(root);
  const prefix = snapshotPrefix(tree);
  const names = (await dm.ls()).filter((n) => n.startsWith(prefix));
  const chosen = which === 'all' ? names : names.filter((n) => n === which || n === `${prefix}${which}`);
  if (which !== 'all' && chosen.length === 0)
    throw new UsageError(`no dmthin snapshot '${which}' of ${tree.poolName} is active (they are named ${prefix}<id>)`);
  const released: string[] = [];
  for (const name of chosen) {
    const id = Number(name.slice(prefix.length));
    const info = await dm.info(name);
    const dev = info ? `/dev/dm-${info.minor}` : '';
    const mp = mountPointOf(dev, name);
    if (mp) await run('umount', [mp]);
    await dm.remove(name);
    await dm.message(tree.poolName, `delete ${id}`);
    released.push(name);
  }
  return released;
}

/** Removes the pool and loop devices that dmthin docker activate created, and only those. */
export async function dockerDeactivate(root: string): Promise<string> {
  const tree = readDockerTree(root);
  const file = stateFile(tree.poolName);
  if (!existsSync(file)) {
    throw new UsageError(`pool ${tree.poolName} was not activated by dmthin docker activate (no ${file}): it may be Docker's own; leaving it`);
  }
  const state = JSON.parse(readFileSync(file, 'utf8')) as ActivationState;
  if (await dm.exists(tree.poolName)) {
    const pool = await Pool.open(tree.poolName);
    const active = await pool.activeThins();
    if (active.length > 0) {
      throw new UsageError(`devices of the pool are still active (${active.map((t) => t.name).join(', ')}): dmthin docker release ${root} --all first`);
    }
    await dm.remove(tree.poolName);
  }
  for (const l of state.loops) await loop.detach(l).catch(() => undefined);
  rmSync(file, { force: true });
  return tree.poolName;
}
