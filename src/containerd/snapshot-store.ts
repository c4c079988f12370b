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
import { parseGoTime, parseUvarint, parseVarint } from './go-values.js';
import { labelsOf } from './meta-store.js';

export const SNAPSHOT_KINDS = ['unknown', 'view', 'active', 'committed'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

export interface StoredSnapshot {
  key: string;
  id?: number;
  kind: SnapshotKind;
  parent?: string;
  createdAt?: string;
  labels: Record<string, string>;
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
    const b = e.bucket;
    const idBytes = b.get('id');
    const id = idBytes === undefined ? undefined : parseUvarint(idBytes);
    if (id === undefined) out.unreadable.push(`${db.name}: v1/snapshots/${key}: id ${idBytes ? 'does not decode' : 'missing'}`);
    const kindByte = b.get('kind')?.[0] ?? 0;
    const parent = b.get('parent');
    const inodes = b.get('inodes');
    const size = b.get('size');
    const created = b.get('createdat');
    out.snapshots.push({
      key,
      id,
      kind: SNAPSHOT_KINDS[kindByte] ?? 'unknown',
      parent: parent?.length ? text.decode(parent) : undefined,
      createdAt: created ? parseGoTime(created) : undefined,
      labels: labelsOf(b.bucket('labels')),
      inodes: inodes ? parseVarint(inodes) : undefined,
      size: size ? parseVarint(size) : undefined,
    });
  }
  return out;
}
