/**
 * The inventory of a Docker devicemapper tree: Docker's records joined
 * with the thin metadata read offline, and every inconsistency a crash can
 * leave, each with what Docker would do about it.
 */
import { check, describeFinding } from '../thin/check/check.js';
import { inferFamily } from '../thin/insight/family.js';
import { lsRows } from '../thin/insight/ls.js';
import { existsSync } from 'node:fs';
import { Metadata } from '../thin/metadata.js';
import { doctorCommand } from '../thin/damage.js';
import { type DeletedScan, scanDeleted } from '../thin/recover/scan-deleted.js';
import { type DeletedSummary, summarizeDeleted } from '../thin/recover/zero-blocks.js';
import type { DockerDevice, DockerTree, ReadOptions } from './tree.js';
import { type DockerPoolSource, openDockerPool } from './pool-source.js';

export interface InventoryDevice extends DockerDevice {
  /** In the pool's metadata. */
  inPool: boolean;
  mappedBytes?: number;
  exclusiveBytes?: number;
  /** Hash of the device this one was snapshotted from, where it can be told. */
  origin?: string;
}

export type ProblemKind =
  | 'orphan-thin'
  | 'missing-thin'
  | 'open-transaction'
  | 'uncommitted-device'
  | 'size-exceeded'
  | 'deleted-pending'
  | 'next-device-id-in-use'
  | 'damaged-metadata'
  | 'unreadable-file';

export interface Problem {
  kind: ProblemKind;
  deviceId?: number;
  hash?: string;
  detail: string;
}

export interface Inventory {
  pool: {
    name: string;
    metadataFile: string;
    dataFile: string;
    transactionId?: bigint;
    dataBlockSize?: number;
    nrDataBlocks?: number;
    nextDeviceId?: number;
    heldMetadataSnap?: number;
    baseFilesystem?: string;
    metadataOk: boolean;
  };
  devices: InventoryDevice[];
  /** Thin ids in the pool that Docker has no file for. */
  orphanThins: Array<{ deviceId: number; mappedBytes: number }>;
  /**
   * Deleted devices whose trees survive in the metadata (thin/recover):
   * what `docker rm` left behind. `discarded` when every block the evidence
   * vouches for reads as zeros (Docker discards a device's blocks before
   * deleting it unless dm.blkdiscard=false); undefined without the data.
   */
  deleted: Array<DeletedSummary & { hash?: string }>;
  problems: Problem[];
}

/** The inventory of a Docker root, or of the pool source openDockerPool made of one (`options` then unused). */
export function inventory(root: string | DockerPoolSource, options: ReadOptions = {}): Inventory {
  const source = typeof root === 'string' ? openDockerPool(root, options) : root;
  const tree: DockerTree = source.tree;
  const doctor = doctorCommand(source);
  const problems: Problem[] = tree.unreadable.map((u) => ({ kind: 'unreadable-file', detail: `${u.file}: ${u.error}: Docker would fail to load this record` }));
  const devices: InventoryDevice[] = tree.devices.map((d) => ({ ...d, inPool: false }));
  const inv: Inventory = {
    pool: {
      name: tree.poolName,
      metadataFile: tree.metadataFile,
      dataFile: tree.dataFile,
      nextDeviceId: tree.nextDeviceId,
      baseFilesystem: tree.baseFilesystem,
      metadataOk: false,
    },
    devices,
    orphanThins: [],
    deleted: [],
    problems,
  };

  const c = check(tree.metadataFile);
  inv.pool.metadataOk = c.ok;
  if (!c.ok) {
    const first = c.findings
      .filter((f) => f.severity === 'fatal')
      .slice(0, 5)
      .map(describeFinding)
      .join('; ');
    problems.push({
      kind: 'damaged-metadata',
      detail: `the thin metadata ${tree.metadataFile} fails its check (${first}): the pool will not activate until it is repaired; run ${doctor} to see what is lost and what to do next (dmthin check ${tree.metadataFile} lists every finding)`,
    });
  }
  let md: Metadata;
  try {
    md = Metadata.open(tree.metadataFile);
  } catch (e) {
    problems.push({ kind: 'damaged-metadata', detail: `cannot read the thin metadata: ${(e as Error).message}; run ${doctor}` });
    return inv;
  }
  try {
    const sb = md.superblock;
    inv.pool.transactionId = sb.transactionId;
    inv.pool.dataBlockSize = sb.dataBlockSize;
    inv.pool.nrDataBlocks = sb.dataSpaceMapRoot.nrBlocks;
    inv.pool.heldMetadataSnap = sb.heldRoot || undefined;
    const bs = sb.dataBlockSize * 512;
    let thins: ReturnType<Metadata['devices']> = [];
    try {
      thins = md.devices();
    } catch (e) {
      problems.push({ kind: 'damaged-metadata', detail: `cannot list the pool's devices: ${(e as Error).message}` });
    }
    const byId = new Map(thins.map((t) => [t.devId, t]));
    let rows: ReturnType<typeof lsRows> = [];
    let family: ReturnType<typeof inferFamily> = [];
    try {
      rows = lsRows(md, true);
      family = inferFamily(md, thins);
    } catch (e) {
      problems.push({ kind: 'damaged-metadata', detail: `cannot read every mapping tree: ${(e as Error).message}` });
    }
    const rowById = new Map(rows.map((r) => [r.devId, r]));
    const hashById = new Map(devices.map((d) => [d.deviceId, d.hash]));
    const parentById = new Map(family.map((f) => [f.devId, f.parent]));

    for (const d of devices) {
      const t = byId.get(d.deviceId);
      d.inPool = t !== undefined;
      if (t) {
        d.mappedBytes = t.mappedBlocks * bs;
        const r = rowById.get(d.deviceId);
        if (r) d.exclusiveBytes = r.exclusiveBlocks * bs;
        const p = parentById.get(d.deviceId);
        if (p !== undefined) d.origin = hashById.get(p) ?? `thin ${p} (unknown to Docker)`;
        if (t.mappedBlocks * bs > d.size && d.size > 0) {
          problems.push({
            kind: 'size-exceeded',
            deviceId: d.deviceId,
            hash: d.hash,
            detail: `thin ${d.deviceId} maps ${t.mappedBlocks * bs} bytes, more than Docker's size ${d.size}: the record or the pool is wrong`,
          });
        }
      } else if (!d.deleted) {
        problems.push({
          kind: 'missing-thin',
          deviceId: d.deviceId,
          hash: d.hash,
          detail: `Docker records device ${d.deviceId} but the pool has no such thin: Docker will fail to activate it (its container or image cannot start)`,
        });
      }
      if (d.deleted) {
        problems.push({
          kind: 'deleted-pending',
          deviceId: d.deviceId,
          hash: d.hash,
          detail: `marked deleted (deferred deletion): Docker deletes thin ${d.deviceId} when it next starts${d.inPool ? '' : '; it is already gone from the pool'}`,
        });
      }
    }
    const known = new Set(devices.map((d) => d.deviceId));
    for (const t of thins) {
      if (!known.has(t.devId)) {
        inv.orphanThins.push({ deviceId: t.devId, mappedBytes: t.mappedBlocks * bs });
        const tm = tree.transactionMetadata;
        const pending = tm && tm.deviceId === t.devId && BigInt(tm.openTransactionId) !== sb.transactionId;
        problems.push({
          kind: 'orphan-thin',
          deviceId: t.devId,
          detail: `thin ${t.devId} (${t.mappedBlocks * bs} bytes mapped) is in the pool but Docker has no record of it${pending ? ": it is the open transaction's device, and Docker deletes it when it next starts" : ': Docker ignores it and its space stays allocated (typically a crash between create and record)'}`,
        });
      }
    }
    listDeleted(inv, md, tree, devices);
    const tm = tree.transactionMetadata;
    if (tm && BigInt(tm.openTransactionId) !== sb.transactionId) {
      if (BigInt(tm.openTransactionId) > sb.transactionId) {
        problems.push({
          kind: 'open-transaction',
          deviceId: tm.deviceId,
          hash: tm.hash,
          detail: `transaction ${tm.openTransactionId} was open when Docker stopped (the pool is at ${sb.transactionId}): on start Docker rolls it back, deleting thin ${tm.deviceId} and the record of ${tm.hash}`,
        });
      } else {
        problems.push({
          kind: 'open-transaction',
          deviceId: tm.deviceId,
          hash: tm.hash,
          detail: `transaction-metadata says ${tm.openTransactionId}, behind the pool's ${sb.transactionId}: Docker logs an error and carries on`,
        });
      }
    }
    for (const d of devices) {
      if (BigInt(d.transactionId) > sb.transactionId) {
        problems.push({
          kind: 'uncommitted-device',
          deviceId: d.deviceId,
          hash: d.hash,
          detail: `recorded in transaction ${d.transactionId}, after the pool's ${sb.transactionId}: written by a transaction that never committed`,
        });
      }
    }
    if (tree.nextDeviceId !== undefined && byId.has(tree.nextDeviceId)) {
      problems.push({
        kind: 'next-device-id-in-use',
        deviceId: tree.nextDeviceId,
        detail: `next_device_id ${tree.nextDeviceId} is already a thin in the pool: Docker's next create gets "device id exists" and moves on to the next id`,
      });
    }
  } finally {
    md.close();
  }
  return inv;
}

/** Deleted devices whose trees survive, named where a Docker record (deferred deletion) still has the id. */
function listDeleted(inv: Inventory, md: Metadata, tree: DockerTree, devices: DockerDevice[]): void {
  let found: DeletedScan;
  try {
    found = scanDeleted(md.reader);
  } catch (e) {
    inv.problems.push({ kind: 'damaged-metadata', detail: `cannot look for deleted devices: ${(e as Error).message}` });
    return;
  }
  for (const d of summarizeDeleted(found, existsSync(tree.dataFile) ? tree.dataFile : undefined)) {
    inv.deleted.push({ ...d, hash: devices.find((x) => x.deviceId === d.deviceId)?.hash });
  }
}
