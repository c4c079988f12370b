/**
 * The snapshotter's own store, ROOT_PATH/metadata.db (containerd's
 * core/snapshots/storage/bolt.go):
 *
 *   v1/snapshots/KEY/{id: uvarint, kind: 1 byte, parent: KEY, createdat,
 *                     updatedat, labels/, inodes: varint, size: varint}
 *   v1/parents/{uvarint parent id, 0, uvarint child id} -> child KEY
 *
 * KEY is the name containerd's metadata layer gives the snapshot
 * (NAMESPACE/N/KEY); `id` is this store's own number, which the devmapper
 * snapshotter puts in its device names (POOL-snap-ID). Kinds from
 * core/snapshots/snapshotter.go: 0 unknown, 1 view, 2 active, 3 committed.
 */
import type { BoltDb } from '../format/bbolt/db.js';
import { parseUvarint, parseVarint } from './go-values.js';
import { Fields } from './meta-store.js';

export const SNAPSHOT_KINDS = ['unknown', 'view', 'active', 'committed'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

export interface StoredSnapshot {
  key: string;
  id?: number;
  kind: SnapshotKind;
  parent?: string;
  /** Committed snapshots only: what the snapshotter counted when it committed. */
  inodes?: number;
  size?: number;
}

export interface SnapshotStore {
  file: string;
  snapshots: StoredSnapshot[];
  unreadable: string[];
}

const text = new TextDecoder();

export function readSnapshotStore(db: BoltDb): SnapshotStore {
  const out: SnapshotStore = { file: db.name, snapshots: [], unreadable: [] };
  const all = db.bucket('v1')?.bucket('snapshots');
  if (!all) {
    out.unreadable.push(`${db.name}: no v1/snapshots bucket: not a snapshotter's metadata.db`);
    return out;
  }
  for (const e of all.entries()) {
    if (!e.bucket) continue;
    const key = text.decode(e.key);
    const f = new Fields(e.bucket);
    const idBytes = f.bytes('id');
    const id = idBytes === undefined ? undefined : parseUvarint(idBytes);
    if (id === undefined) out.unreadable.push(`${db.name}: v1/snapshots/${key}: id ${idBytes ? 'does not decode' : 'missing'}`);
    const inodes = f.bytes('inodes');
    const size = f.bytes('size');
    out.snapshots.push({
      key,
      id,
      kind: SNAPSHOT_KINDS[f.bytes('kind')?.[0] ?? 0] ?? 'unknown',
      parent: f.str('parent') || undefined,
      inodes: inodes ? parseVarint(inodes) : undefined,
      size: size ? parseVarint(size) : undefined,
    });
  }
  return out;
}
