/**
 * The devmapper snapshotter's device store, ROOT_PATH/POOL.db (containerd's
 * plugins/snapshots/devmapper/metadata.go and device_info.go):
 *
 *   devices/NAME -> JSON {"device_id", "size", "name", "parent_name", "state", "error"}
 *   device_ids/ID (decimal) -> 1 byte: 0 free, 1 taken, 2 faulty
 *
 * NAME is POOL-snap-N, N the snapshot's id in metadata.db. The states are
 * device_info.go's DeviceState, in order from 0.
 */
import type { BoltDb } from '../format/bbolt/db.js';

export const DEVICE_STATES = [
  'Unknown',
  'Creating',
  'Created',
  'Activating',
  'Activated',
  'Suspending',
  'Suspended',
  'Resuming',
  'Resumed',
  'Deactivating',
  'Deactivated',
  'Removing',
  'Removed',
  'Faulty',
] as const;

/**
 * States a device rests in (pool_device.go ensureDeviceStates): on start the
 * snapshotter marks a device in any other state Faulty, as a step it never
 * finished (a crash mid-create, mid-activate, mid-remove).
 */
export const SETTLED_STATES: ReadonlySet<string> = new Set(['Activated', 'Suspended', 'Resumed', 'Deactivated', 'Removed', 'Faulty']);

export interface StoredDevice {
  name: string;
  deviceId: number;
  size: number;
  parentName?: string;
  state: number;
  /** DEVICE_STATES' name, or `state N` for a number past them. */
  stateName: string;
  error?: string;
}

export const DEVICE_ID_STATES = ['free', 'taken', 'faulty'] as const;

export interface DeviceStore {
  file: string;
  devices: StoredDevice[];
  /** device_ids: each id's mark. */
  ids: Map<number, string>;
  unreadable: string[];
}

const text = new TextDecoder();

/** One record's JSON as the snapshotter writes it; undefined with `why` when it is not that. */
export function parseDeviceRecord(name: string, value: Uint8Array): { device?: StoredDevice; why?: string } {
  let j: unknown;
  try {
    j = JSON.parse(text.decode(value));
  } catch {
    return { why: 'not JSON' };
  }
  const o = j as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || !Number.isInteger(o.device_id) || !Number.isInteger(o.size) || !Number.isInteger(o.state)) {
    return { why: 'JSON without device_id, size and state' };
  }
  const state = o.state as number;
  return {
    device: {
      name: typeof o.name === 'string' && o.name ? o.name : name,
      deviceId: o.device_id as number,
      size: o.size as number,
      parentName: typeof o.parent_name === 'string' && o.parent_name ? o.parent_name : undefined,
      state,
      stateName: DEVICE_STATES[state] ?? `state ${state}`,
      error: typeof o.error === 'string' && o.error ? o.error : undefined,
    },
  };
}

export function writeDeviceRecord(d: StoredDevice): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ device_id: d.deviceId, size: d.size, name: d.name, parent_name: d.parentName ?? '', state: d.state, error: d.error ?? '' }),
  );
}

export function readDeviceStore(db: BoltDb): DeviceStore {
  const out: DeviceStore = { file: db.name, devices: [], ids: new Map(), unreadable: [] };
  const devices = db.bucket('devices');
  if (!devices) out.unreadable.push(`${db.name}: no devices bucket: not a devmapper snapshotter's POOL.db`);
  for (const e of devices?.entries() ?? []) {
    if (!e.value) continue;
    const name = text.decode(e.key);
    const r = parseDeviceRecord(name, e.value);
    if (r.device) out.devices.push(r.device);
    else out.unreadable.push(`${db.name}: devices/${name}: ${r.why}`);
  }
  for (const e of db.bucket('device_ids')?.entries() ?? []) {
    if (!e.value) continue;
    const id = Number(text.decode(e.key));
    if (Number.isInteger(id)) out.ids.set(id, DEVICE_ID_STATES[e.value[0]] ?? `mark ${e.value[0]}`);
  }
  return out;
}
