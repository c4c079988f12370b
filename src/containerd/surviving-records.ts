/**
 * Records of removed snapshots that survive in the free pages of
 * containerd's three bbolt files. bbolt copies every page a transaction
 * changes and frees the old one without wiping it (format/bbolt/
 * free-pages.ts), so the last versions of a removed snapshot's records are
 * often still there: its device in POOL.db (name, thin id, size, parent),
 * its snapshotter record in metadata.db (NAMESPACE/N/KEY, id, kind,
 * parent), its key and container in meta.db.
 *
 * Only pages the current tree does not use are read, and a sub-bucket's
 * page is read only when it is free too: a live page reused since would
 * name something else. Nothing is inferred from a record that lacks the
 * fields that make it one (a device JSON without device_id, a snapshot
 * without id and kind).
 */
import type { BoltDb } from '../format/bbolt/db.js';
import { type FreeLeafRecord, freelistPageIds, scanFreeLeaves, unreachablePageIds } from '../format/bbolt/free-pages.js';
import { BUCKET_HEADER_SIZE, INLINE_ROOT, parseBucketHeader } from '../format/bbolt/bucket-header.js';
import { BoltError } from '../format/bbolt/errors.js';
import { type StoredDevice, parseDeviceRecord } from './device-store.js';
import { SNAPSHOT_KINDS, type SnapshotKind } from './snapshot-store.js';
import { parseUvarint } from './go-values.js';

/** Where a surviving record was read: the file and its free page. */
export interface Found {
  file: string;
  page: number;
}

export interface SurvivingDevice extends Found {
  device: StoredDevice;
}

export interface SurvivingSnapshot extends Found {
  /** NAMESPACE/N/KEY, as the snapshotter keyed it. */
  storeKey: string;
  namespace: string;
  key: string;
  id: number;
  kind: SnapshotKind;
  parent?: string;
}

export interface SurvivingContainer extends Found {
  id: string;
  snapshotKey: string;
  snapshotter?: string;
}

export interface SurvivingRecords {
  devices: SurvivingDevice[];
  snapshots: SurvivingSnapshot[];
  containers: SurvivingContainer[];
  /** Free pages read, per file; and why a file's could not be. */
  pagesRead: number;
  notes: string[];
}

const text = new TextDecoder();
const STORE_KEY = /^([^/]+)\/(\d+)\/(.+)$/;

/** The free pages of `db`: those its tree does not reach (and its freelist's, when that can be read). */
function freePages(db: BoltDb, notes: string[]): Set<number> {
  const pages = new Set<number>();
  try {
    for (const id of unreachablePageIds(db)) pages.add(id);
  } catch (e) {
    if (!(e instanceof BoltError)) throw e;
    notes.push(`${db.name}: its tree cannot be walked whole (${e.message}), so only the pages its freelist names are searched`);
  }
  try {
    for (const id of freelistPageIds(db) ?? []) pages.add(id);
  } catch (e) {
    if (!(e instanceof BoltError)) throw e;
    notes.push(`${db.name}: freelist not read: ${e.message}`);
  }
  return pages;
}

/** A free bucket record's own records: inline ones from the same scan, or its root page's when that page is free too. */
function fieldsOf(db: BoltDb, r: FreeLeafRecord, all: FreeLeafRecord[], free: Set<number>): Map<string, Uint8Array> {
  const fields = new Map<string, Uint8Array>();
  if (r.value.length < BUCKET_HEADER_SIZE) return fields;
  const header = parseBucketHeader(r.value, { file: db.name, page: r.page });
  const sameKey = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  let children: Iterable<FreeLeafRecord>;
  if (header.root === INLINE_ROOT) {
    const path = [...r.inlinePath, r.key];
    children = all.filter((c) => c.page === r.page && c.inlinePath.length === path.length && c.inlinePath.every((k, i) => sameKey(k, path[i])));
  } else {
    if (!free.has(header.root)) return fields;
    children = [...scanFreeLeaves(db, [header.root])].filter((c) => c.inlinePath.length === 0);
  }
  for (const c of children) if (!c.isBucket && !fields.has(text.decode(c.key))) fields.set(text.decode(c.key), c.value);
  return fields;
}

export function survivingRecords(dbs: { meta: BoltDb; snapshots: BoltDb; devices: BoltDb }): SurvivingRecords {
  const out: SurvivingRecords = { devices: [], snapshots: [], containers: [], pagesRead: 0, notes: [] };
  const scan = (db: BoltDb): { free: Set<number>; records: FreeLeafRecord[] } => {
    const free = freePages(db, out.notes);
    out.pagesRead += free.size;
    return { free, records: [...scanFreeLeaves(db, free)] };
  };

  const devs = scan(dbs.devices);
  for (const r of devs.records) {
    if (r.isBucket) continue;
    const name = text.decode(r.key);
    if (!/-snap-\d+$/.test(name)) continue;
    const parsed = parseDeviceRecord(name, r.value);
    if (parsed.device) out.devices.push({ file: dbs.devices.name, page: r.page, device: parsed.device });
  }

  const snaps = scan(dbs.snapshots);
  for (const r of snaps.records) {
    if (!r.isBucket) continue;
    const storeKey = text.decode(r.key);
    const m = STORE_KEY.exec(storeKey);
    if (!m) continue;
    const f = fieldsOf(dbs.snapshots, r, snaps.records, snaps.free);
    const idBytes = f.get('id');
    const kindBytes = f.get('kind');
    const id = idBytes ? parseUvarint(idBytes) : undefined;
    if (id === undefined || !kindBytes?.length) continue;
    const parent = f.get('parent');
    out.snapshots.push({
      file: dbs.snapshots.name,
      page: r.page,
      storeKey,
      namespace: m[1],
      key: m[3],
      id,
      kind: SNAPSHOT_KINDS[kindBytes[0]] ?? 'unknown',
      parent: parent?.length ? text.decode(parent) : undefined,
    });
  }

  const meta = scan(dbs.meta);
  for (const r of meta.records) {
    if (!r.isBucket) continue;
    const f = fieldsOf(dbs.meta, r, meta.records, meta.free);
    const snapshotKey = f.get('snapshotKey');
    if (snapshotKey?.length) {
      const snapshotter = f.get('snapshotter');
      out.containers.push({
        file: dbs.meta.name,
        page: r.page,
        id: text.decode(r.key),
        snapshotKey: text.decode(snapshotKey),
        snapshotter: snapshotter ? text.decode(snapshotter) : undefined,
      });
    }
  }
  return out;
}
