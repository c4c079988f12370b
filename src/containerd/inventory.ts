/**
 * containerd's devmapper snapshots joined across its three stores and the
 * thin pool: each snapshot by namespace and key with its parent, the
 * containers and images that use it, its device and what the pool says of
 * it; and every disagreement a crash leaves between them (containerd
 * #4790, #5646), each under a stable code.
 *
 * The chain: meta.db's NAMESPACE/snapshots/devmapper/KEY names the
 * snapshotter's key (NAMESPACE/N/KEY) -> metadata.db gives its id ->
 * the device is POOL-snap-ID in POOL.db -> device_id is the thin's id.
 */
import { statSync } from 'node:fs';
import { check, describeFinding } from '../thin/check/check.js';
import { lsRows } from '../thin/insight/ls.js';
import { Metadata } from '../thin/metadata.js';
import type { SnapshotKind } from './snapshot-store.js';
import { SETTLED_STATES, type StoredDevice } from './device-store.js';
import type { ContainerdPoolSource } from './pool-source.js';

export const SNAPSHOTTER = 'devmapper';

export interface ContainerdSnapshot {
  namespace: string;
  key: string;
  kind: SnapshotKind;
  parent?: string;
  /** The key in the snapshotter's store (NAMESPACE/N/KEY). */
  snapshotterKey?: string;
  snapshotId?: number;
  deviceName?: string;
  deviceId?: number;
  size?: number;
  state?: string;
  /** Bytes the thin maps, when the pool was read and has it. */
  mappedBytes?: number;
  inPool?: boolean;
  /** The pool's check found its mapping tree damaged. */
  damaged?: boolean;
  containers: string[];
  images: string[];
  createdAt?: string;
}

export type ContainerdProblemCode =
  | 'not-in-snapshotter'
  | 'snapshot-without-device'
  | 'device-not-in-pool'
  | 'device-unsettled'
  | 'device-faulty'
  | 'device-removed'
  | 'device-error'
  | 'thin-unknown'
  | 'device-without-snapshot'
  | 'snapshotter-orphan'
  | 'container-without-snapshot'
  | 'damaged-metadata'
  | 'damaged-mappings'
  | 'data-too-small'
  | 'unreadable-record';

export interface ContainerdProblem {
  code: ContainerdProblemCode;
  namespace?: string;
  key?: string;
  deviceName?: string;
  deviceId?: number;
  detail: string;
}

export interface ContainerdInventory {
  pool: {
    name: string;
    metadataFile?: string;
    dataFile?: string;
    read: boolean;
    metadataOk?: boolean;
    transactionId?: bigint;
    dataBlockSize?: number;
    nrDataBlocks?: number;
  };
  snapshots: ContainerdSnapshot[];
  /** Thin ids in the pool no device record names. */
  unknownThins: Array<{ deviceId: number; mappedBytes: number }>;
  problems: ContainerdProblem[];
}

/** The snapshot's id in a device name POOL-snap-ID, or undefined for a name of another shape. */
export function snapshotIdOfDevice(pool: string, name: string): number | undefined {
  const prefix = `${pool}-snap-`;
  if (!name.startsWith(prefix)) return undefined;
  const id = Number(name.slice(prefix.length));
  return Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

export function deviceNameOf(pool: string, snapshotId: number): string {
  return `${pool}-snap-${snapshotId}`;
}

export interface InventoryOptions {
  /**
   * What of the pool to read, when it was given: 'checked' (the default: its
   * devices, and the whole metadata checked, for ls), 'listed' (its devices
   * only: the doctor judges the metadata itself), 'none' (the stores alone:
   * a command that only needs a snapshot's device record, as export).
   */
  pool?: 'checked' | 'listed' | 'none';
}

export function containerdInventory(src: ContainerdPoolSource, options: InventoryOptions = {}): ContainerdInventory {
  const { meta, snapshots: store, devices } = src.stores;
  const problems: ContainerdProblem[] = [];
  for (const u of [...meta.unreadable, ...store.unreadable, ...devices.unreadable, ...src.stores.warnings])
    problems.push({ code: 'unreadable-record', detail: u });
  const inv: ContainerdInventory = {
    pool: {
      name: src.poolName,
      metadataFile: src.hasPool ? String(src.metadata) : undefined,
      dataFile: typeof src.data === 'string' ? src.data : undefined,
      read: false,
    },
    snapshots: [],
    unknownThins: [],
    problems,
  };
  const storedByKey = new Map(store.snapshots.map((s) => [s.key, s]));
  const deviceByName = new Map(devices.devices.map((d) => [d.name, d]));

  // Which containers and images use each (namespace, key): an image its whole chain.
  const users = new Map<string, { containers: string[]; images: string[] }>();
  const slot = (ns: string, key: string) => {
    const k = `${ns}\0${key}`;
    let u = users.get(k);
    if (!u) users.set(k, (u = { containers: [], images: [] }));
    return u;
  };
  const metaByKey = new Map(meta.snapshots.filter((s) => s.snapshotter === SNAPSHOTTER).map((s) => [`${s.namespace}\0${s.key}`, s]));
  for (const c of meta.containers) {
    if (c.snapshotter !== SNAPSHOTTER || !c.snapshotKey) continue;
    slot(c.namespace, c.snapshotKey).containers.push(c.id);
    if (!metaByKey.has(`${c.namespace}\0${c.snapshotKey}`)) {
      problems.push({
        code: 'container-without-snapshot',
        namespace: c.namespace,
        key: c.snapshotKey,
        detail: `container ${c.id} (namespace ${c.namespace}) names snapshot ${c.snapshotKey}, which containerd's store does not have: containerd cannot start it`,
      });
    }
  }
  for (const img of meta.images) {
    for (const top of img.topSnapshots.get(SNAPSHOTTER) ?? []) {
      const seen = new Set<string>();
      for (let key: string | undefined = top; key && !seen.has(key); key = metaByKey.get(`${img.namespace}\0${key}`)?.parent) {
        seen.add(key);
        slot(img.namespace, key).images.push(img.name);
      }
    }
  }

  const usedStoreKeys = new Set<string>();
  const usedDeviceNames = new Set<string>();
  for (const m of meta.snapshots) {
    if (m.snapshotter !== SNAPSHOTTER) continue;
    const u = users.get(`${m.namespace}\0${m.key}`) ?? { containers: [], images: [] };
    const row: ContainerdSnapshot = {
      namespace: m.namespace,
      key: m.key,
      kind: 'unknown',
      parent: m.parent,
      snapshotterKey: m.name,
      containers: u.containers,
      images: u.images,
      createdAt: m.createdAt,
    };
    inv.snapshots.push(row);
    const s = m.name === undefined ? undefined : storedByKey.get(m.name);
    if (!s) {
      problems.push({
        code: 'not-in-snapshotter',
        namespace: m.namespace,
        key: m.key,
        detail: `snapshot ${m.key} (namespace ${m.namespace}) is in containerd's store as ${m.name ?? '(no name)'}, which the snapshotter's ${store.file} does not have: its device cannot be found through containerd`,
      });
      continue;
    }
    usedStoreKeys.add(s.key);
    row.kind = s.kind;
    row.snapshotId = s.id;
    if (s.id === undefined) continue;
    row.deviceName = deviceNameOf(src.poolName, s.id);
    const d = deviceByName.get(row.deviceName);
    if (!d) {
      problems.push({
        code: 'snapshot-without-device',
        namespace: m.namespace,
        key: m.key,
        deviceName: row.deviceName,
        detail: `snapshot ${m.key} (namespace ${m.namespace}) has snapshotter id ${s.id}, but ${devices.file} has no device ${row.deviceName}: the snapshotter cannot mount it`,
      });
      continue;
    }
    usedDeviceNames.add(d.name);
    Object.assign(row, { deviceId: d.deviceId, size: d.size, state: d.stateName });
  }
  for (const s of store.snapshots) {
    if (usedStoreKeys.has(s.key)) continue;
    const name = s.id === undefined ? undefined : deviceNameOf(src.poolName, s.id);
    if (name && deviceByName.has(name)) usedDeviceNames.add(name);
    problems.push({
      code: 'snapshotter-orphan',
      key: s.key,
      deviceName: name,
      deviceId: name ? deviceByName.get(name)?.deviceId : undefined,
      detail: `the snapshotter's ${s.key} (${s.kind}, id ${s.id ?? '?'}) is in no namespace of containerd's store: containerd's garbage collector removes it (and its device) when it next runs`,
    });
  }
  for (const d of devices.devices) {
    if (!usedDeviceNames.has(d.name)) {
      problems.push({
        code: 'device-without-snapshot',
        deviceName: d.name,
        deviceId: d.deviceId,
        detail: `device ${d.name} (thin ${d.deviceId}, ${d.stateName}) is in ${devices.file} but no snapshot of the snapshotter's has id ${snapshotIdOfDevice(src.poolName, d.name) ?? '?'}: left by a snapshot whose removal did not finish`,
      });
    }
    if (!SETTLED_STATES.has(d.stateName)) {
      problems.push({
        code: 'device-unsettled',
        deviceName: d.name,
        deviceId: d.deviceId,
        detail: `device ${d.name} (thin ${d.deviceId}) was left ${d.stateName}: the snapshotter stopped in the middle of a step, and marks it Faulty when it next starts; its thin may not match the record`,
      });
    } else if (d.stateName === 'Faulty') {
      problems.push({
        code: 'device-faulty',
        deviceName: d.name,
        deviceId: d.deviceId,
        detail: `device ${d.name} (thin ${d.deviceId}) is Faulty: a step failed and the snapshotter could not roll it back (or found it unfinished at a start); its snapshot cannot be used until it is removed`,
      });
    } else if (d.stateName === 'Removed') {
      problems.push({
        code: 'device-removed',
        deviceName: d.name,
        deviceId: d.deviceId,
        detail: `device ${d.name} (thin ${d.deviceId}) is Removed but still recorded: with async_remove the snapshotter's cleanup deletes its thin and record; export it first if it may matter`,
      });
    }
    if (d.error) problems.push({ code: 'device-error', deviceName: d.name, deviceId: d.deviceId, detail: `device ${d.name} records the error: ${d.error}` });
  }
  const pool = options.pool ?? 'checked';
  if (src.hasPool && pool !== 'none') readPool(src, inv, devices.devices, pool === 'checked');
  return inv;
}

/** The pool's side: each device's thin and what it maps; thins no record names. */
function readPool(src: ContainerdPoolSource, inv: ContainerdInventory, devices: StoredDevice[], checked: boolean): void {
  const problems = inv.problems;
  const c = checked ? check(src.metadata) : undefined;
  if (c) inv.pool.metadataOk = c.ok;
  if (c && !c.ok) {
    const first = c.findings
      .filter((f) => f.severity === 'fatal')
      .slice(0, 3)
      .map(describeFinding)
      .join('; ');
    problems.push({ code: 'damaged-metadata', detail: `the pool's metadata ${inv.pool.metadataFile} fails its check (${first}): run ${src.doctorCommand}` });
    // Each snapshot whose mapping tree the check found damaged: its own problem, in containerd's names.
    const hurt = new Set(c.findings.filter((f) => f.severity === 'fatal' && f.device !== undefined && f.area === 'mappings').map((f) => f.device));
    for (const s of inv.snapshots) {
      if (s.deviceId === undefined || !hurt.has(s.deviceId)) continue;
      s.damaged = true;
      problems.push({
        code: 'damaged-mappings',
        namespace: s.namespace,
        key: s.key,
        deviceName: s.deviceName,
        deviceId: s.deviceId,
        detail: `${s.namespace}/${s.key} (thin ${s.deviceId}): its mapping tree is damaged: an export reads zeros where it is lost; ${src.doctorCommand} says what is lost and where it may still be`,
      });
    }
  }
  let md: Metadata;
  try {
    md = Metadata.open(src.metadata);
  } catch (e) {
    // The check above has said it already when it found the same (it reads the superblock first).
    if (!c || c.ok) problems.push({ code: 'damaged-metadata', detail: `cannot read the pool's metadata: ${(e as Error).message}; run ${src.doctorCommand}` });
    return;
  }
  try {
    inv.pool.read = true;
    const sb = md.superblock;
    inv.pool.transactionId = sb.transactionId;
    inv.pool.dataBlockSize = sb.dataBlockSize;
    inv.pool.nrDataBlocks = sb.dataSpaceMapRoot.nrBlocks;
    const bs = sb.dataBlockSize * 512;
    const dataBytes = dataSize(src.data);
    if (dataBytes !== undefined && dataBytes < sb.dataSpaceMapRoot.nrBlocks * bs) {
      problems.push({
        code: 'data-too-small',
        detail: `the pool's data ${String(src.data)} holds ${dataBytes} bytes, less than the ${sb.dataSpaceMapRoot.nrBlocks} blocks of ${bs} bytes its metadata counts (${sb.dataSpaceMapRoot.nrBlocks * bs}): a copy cut short, or the wrong file; what lies past its end reads as missing, and the kernel will not load the pool on it`,
      });
    }
    let rows: ReturnType<typeof lsRows> = [];
    try {
      rows = lsRows(md, false);
    } catch (e) {
      problems.push({ code: 'damaged-metadata', detail: `cannot read every device of the pool: ${(e as Error).message}; run ${src.doctorCommand}` });
    }
    const mapped = new Map(rows.map((r) => [r.devId, r.mappedBlocks * bs]));
    for (const s of inv.snapshots) {
      if (s.deviceId === undefined) continue;
      s.inPool = mapped.has(s.deviceId);
      s.mappedBytes = mapped.get(s.deviceId);
    }
    const known = new Set(devices.map((d) => d.deviceId));
    for (const d of devices) {
      if (!mapped.has(d.deviceId) && rows.length) {
        problems.push({
          code: 'device-not-in-pool',
          deviceName: d.name,
          deviceId: d.deviceId,
          detail: `device ${d.name} is recorded as thin ${d.deviceId}, which the pool does not have: the snapshotter fails to activate it (a thin deleted, or a pool recreated)`,
        });
      }
    }
    for (const [id, bytes] of mapped) {
      if (known.has(id)) continue;
      inv.unknownThins.push({ deviceId: id, mappedBytes: bytes });
      problems.push({
        code: 'thin-unknown',
        deviceId: id,
        detail: `thin ${id} (${bytes} bytes mapped) is in the pool but no device record of the snapshotter names it: its space stays allocated (a crash between creating the thin and recording it)`,
      });
    }
  } finally {
    md.close();
  }
}

/** A data file's size; undefined for a device or what cannot be stat'ed (its size is the kernel's). */
function dataSize(data: ContainerdPoolSource['data']): number | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const st = statSync(data);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}
