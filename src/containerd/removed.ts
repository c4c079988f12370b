/**
 * Removed snapshots: thin devices deleted from the pool whose mapping trees
 * survive in its metadata (thin/recover/scan-deleted.ts), named where the
 * stores still hold a record of them (surviving-records.ts): the device
 * record with that thin id gives the snapshotter id (POOL-snap-ID), the
 * snapshotter record with that id gives the namespace and key, a container
 * record with that key its container. Where two records disagree (thin
 * ids and snapshotter ids are reused), every candidate is listed and none
 * chosen; where none survives, it says so.
 */
import type { Metadata } from '../thin/metadata.js';
import { type DeletedScan, scanDeleted } from '../thin/recover/scan-deleted.js';
import { ArgumentError } from '../errors.js';
import { NoSuchSnapshot } from './no-such-snapshot.js';
import { type DeletedSummary, summarizeDeleted } from '../thin/recover/zero-blocks.js';
import type { ContainerdPoolSource } from './pool-source.js';
import { snapshotIdOfDevice } from './inventory.js';
import { DEVICE_STATES } from './device-store.js';
import { type SurvivingRecords, survivingRecords } from './surviving-records.js';

export interface RemovedSnapshot extends DeletedSummary {
  /** The names found, each with where; more than one when records disagree. */
  names: RemovedName[];
  /** The device's size: its record's, else the one size every device of the pool has. */
  size?: number;
  /** Why no name is given, when none is. */
  unnamed?: string;
}

export interface RemovedName {
  deviceName: string;
  snapshotId?: number;
  namespace?: string;
  key?: string;
  kind?: string;
  parent?: string;
  parentDevice?: string;
  size: number;
  state: string;
  containers: string[];
  /** "ctdpool.db page 4, metadata.db page 7". */
  evidence: string[];
}

export interface RemovedReport {
  removed: RemovedSnapshot[];
  /** The pool's deleted devices as found, for their export. */
  scan: DeletedScan;
  /** Free pages searched in the three stores, and what could not be searched. */
  pagesSearched: number;
  notes: string[];
}

const base = (file: string): string => file.slice(file.lastIndexOf('/') + 1);

export function removedSnapshots(src: ContainerdPoolSource, md: Metadata): RemovedReport {
  const scan = scanDeleted(md.reader);
  const records: SurvivingRecords = survivingRecords(src.stores.dbs);
  const liveSizes = new Set(src.stores.devices.devices.map((d) => d.size));
  const poolSize = liveSizes.size === 1 ? [...liveSizes][0] : undefined;
  const removed: RemovedSnapshot[] = [];
  for (const d of summarizeDeleted(scan, src.data)) {
    const names = namesOf(src, records, d.deviceId);
    const sizes = new Set(names.map((n) => n.size));
    removed.push({
      ...d,
      names,
      size: sizes.size === 1 ? [...sizes][0] : sizes.size === 0 ? poolSize : undefined,
      unnamed: names.length
        ? undefined
        : `no record of thin ${d.deviceId} survives in the stores' ${records.pagesRead} free pages (bbolt reused them): known by its thin id only`,
    });
  }
  return { removed, scan, pagesSearched: records.pagesRead, notes: records.notes };
}

function namesOf(src: ContainerdPoolSource, records: SurvivingRecords, deviceId: number): RemovedName[] {
  const pool = src.poolName;
  const out = new Map<string, RemovedName>();
  // The live store first (a removal that stopped half way leaves the record), then the free pages; the furthest state of each name.
  const candidates = [
    ...src.stores.devices.devices.filter((d) => d.deviceId === deviceId).map((device) => ({ device, where: `${base(src.stores.devices.file)} (live)` })),
    ...records.devices.filter((r) => r.device.deviceId === deviceId).map((r) => ({ device: r.device, where: `${base(r.file)} page ${r.page}` })),
  ];
  for (const { device, where } of candidates) {
    const had = out.get(device.name);
    if (had) {
      if (!had.evidence.includes(where)) had.evidence.push(where);
      if (device.state > DEVICE_STATES.indexOf(had.state as (typeof DEVICE_STATES)[number])) had.state = device.stateName;
      continue;
    }
    const snapshotId = snapshotIdOfDevice(pool, device.name);
    const name: RemovedName = {
      deviceName: device.name,
      snapshotId,
      size: device.size,
      state: device.stateName,
      parentDevice: device.parentName,
      containers: [],
      evidence: [where],
    };
    out.set(device.name, name);
    const snaps = [
      ...src.stores.snapshots.snapshots
        .filter((s) => s.id === snapshotId)
        .map((s) => ({ storeKey: s.key, kind: s.kind, parent: s.parent, where: `${base(src.stores.snapshots.file)} (live)` })),
      ...records.snapshots
        .filter((s) => s.id === snapshotId)
        .map((s) => ({ storeKey: s.storeKey, kind: s.kind, parent: s.parent, where: `${base(s.file)} page ${s.page}` })),
    ];
    const keys = new Set(snaps.map((s) => s.storeKey));
    if (keys.size !== 1) continue; // none, or records of two snapshots with that id: the key is not told
    const s = snaps[0];
    const m = /^([^/]+)\/\d+\/(.+)$/.exec(s.storeKey);
    if (!m) continue;
    Object.assign(name, { namespace: m[1], key: m[2], kind: s.kind, parent: s.parent ? (/^[^/]+\/\d+\/(.+)$/.exec(s.parent)?.[1] ?? s.parent) : undefined });
    for (const x of snaps) if (!name.evidence.includes(x.where)) name.evidence.push(x.where);
    const containers = [
      ...src.stores.meta.containers
        .filter((c) => c.namespace === m[1] && c.snapshotKey === m[2])
        .map((c) => ({ id: c.id, where: `${base(src.stores.meta.file)} (live)` })),
      ...records.containers
        .filter((c) => c.snapshotKey === m[2] && (c.snapshotter === undefined || c.snapshotter === 'devmapper'))
        .map((c) => ({ id: c.id, where: `${base(c.file)} page ${c.page}` })),
    ];
    for (const c of containers) {
      if (!name.containers.includes(c.id)) name.containers.push(c.id);
      if (!name.evidence.includes(c.where)) name.evidence.push(c.where);
    }
  }
  return [...out.values()];
}

/**
 * The removed snapshot WHAT names: a thin id, a device name, or a key or
 * container id that a surviving record gives it (in `namespace` when
 * given). A name two removed devices share is refused with both.
 */
export function findRemoved(report: RemovedReport, given: string, givenNamespace?: string): RemovedSnapshot {
  const namespaces = [...new Set(report.removed.flatMap((r) => r.names.map((n) => n.namespace ?? '')))].filter(Boolean);
  const slash = given.indexOf('/');
  const split = slash > 0 && namespaces.includes(given.slice(0, slash)) && (givenNamespace === undefined || givenNamespace === given.slice(0, slash));
  const what = split ? given.slice(slash + 1) : given;
  const namespace = split ? given.slice(0, slash) : givenNamespace;
  const byId = /^\d+$/.test(what) ? report.removed.filter((r) => r.deviceId === Number(what)) : [];
  const named = report.removed.filter((r) =>
    r.names.some((n) => (namespace === undefined || n.namespace === namespace) && (n.key === what || n.deviceName === what || n.containers.includes(what))),
  );
  const found = byId.length ? byId : named;
  if (found.length === 1) return found[0];
  if (found.length > 1) {
    throw new ArgumentError(`${what} names ${found.length} removed devices (thin ${found.map((r) => r.deviceId).join(', thin ')}): give the thin id`);
  }
  const list = report.removed.map((r) => `thin ${r.deviceId}${r.names[0]?.key ? ` (${r.names[0].namespace}/${r.names[0].key})` : ''}`);
  throw new NoSuchSnapshot(
    `no removed snapshot ${what} survives in the pool${namespace ? ` in namespace ${namespace}` : ''}; ${list.length ? `removed devices found: ${list.join(', ')}` : 'it holds no deleted device'} (dmthin containerd ls --deleted lists them with what names them)`,
  );
}
