/**
 * containerd's own store, ROOT/io.containerd.metadata.v1.bolt/meta.db
 * (containerd's core/metadata/buckets.go):
 *
 *   v1/NAMESPACE/containers/ID/{image, snapshotter, snapshotKey, createdat, labels/}
 *   v1/NAMESPACE/images/NAME/{target/{digest, mediatype, size}, createdat, labels/}
 *   v1/NAMESPACE/snapshots/SNAPSHOTTER/KEY/{name, parent, children/, createdat, labels/}
 *   v1/NAMESPACE/content/blob/DIGEST/labels/   (the unpacker's gc references)
 *
 * A snapshot's `name` is its key in the snapshotter's own store
 * (NAMESPACE/N/KEY). An image reaches its snapshots through the content
 * labels containerd's unpacker writes: the manifest's
 * containerd.io/gc.ref.content.config names its config blob, whose
 * containerd.io/gc.ref.snapshot.SNAPSHOTTER names the top layer's snapshot
 * (an index's gc.ref.content.m.N its manifests). Nothing here is guessed:
 * a record whose bytes do not decode is left out and said in `unreadable`.
 */
import type { BoltBucket } from '../format/bbolt/bucket.js';
import type { BoltDb } from '../format/bbolt/db.js';
import { parseGoTime } from './go-values.js';

export interface MetaContainer {
  namespace: string;
  id: string;
  image?: string;
  snapshotter?: string;
  snapshotKey?: string;
}

export interface MetaImage {
  namespace: string;
  name: string;
  targetDigest?: string;
  /** Per snapshotter, the keys of the top snapshots of the image's platforms, as the unpacker labelled them. */
  topSnapshots: Map<string, string[]>;
}

export interface MetaSnapshot {
  namespace: string;
  snapshotter: string;
  key: string;
  /** The key in the snapshotter's store. */
  name?: string;
  parent?: string;
  createdAt?: string;
}

export interface ContainerdMeta {
  file: string;
  namespaces: string[];
  containers: MetaContainer[];
  images: MetaImage[];
  snapshots: MetaSnapshot[];
  /** Records whose bytes did not decode, in words naming the bucket path. */
  unreadable: string[];
}

const text = new TextDecoder('utf-8', { fatal: false });

/**
 * A record bucket's fields in one pass over its entries: every get() on a
 * bucket searches (and an inline bucket's page is parsed) again, which for
 * thousands of small records is most of the time.
 */
export class Fields {
  private readonly values = new Map<string, Uint8Array>();
  private readonly buckets = new Map<string, BoltBucket>();

  constructor(b: BoltBucket | undefined) {
    if (!b) return;
    for (const e of b.entries()) {
      if (e.bucket) this.buckets.set(text.decode(e.key), e.bucket);
      else this.values.set(text.decode(e.key), e.value);
    }
  }

  bytes(key: string): Uint8Array | undefined {
    return this.values.get(key);
  }

  str(key: string): string | undefined {
    const v = this.values.get(key);
    return v === undefined ? undefined : text.decode(v);
  }

  bucket(key: string): BoltBucket | undefined {
    return this.buckets.get(key);
  }

  time(key: string): string | undefined {
    const v = this.values.get(key);
    return v === undefined ? undefined : parseGoTime(v);
  }
}

/** Every sub-bucket of `b` by name (values are skipped: containerd keeps none at these levels). */
function* subBuckets(b: BoltBucket | undefined): Generator<[string, BoltBucket]> {
  if (!b) return;
  for (const e of b.entries()) if (e.bucket) yield [text.decode(e.key), e.bucket];
}

function labelsOf(b: BoltBucket | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!b) return out;
  for (const e of b.entries()) if (e.value) out[text.decode(e.key)] = text.decode(e.value);
  return out;
}

export function readContainerdMeta(db: BoltDb): ContainerdMeta {
  const out: ContainerdMeta = { file: db.name, namespaces: [], containers: [], images: [], snapshots: [], unreadable: [] };
  const v1 = db.bucket('v1');
  if (!v1) {
    out.unreadable.push(`${db.name}: no v1 bucket: not containerd's metadata store, or one from a future schema`);
    return out;
  }
  for (const [ns, nsb] of subBuckets(v1)) {
    out.namespaces.push(ns);
    const objects = new Fields(nsb);
    for (const [id, c] of subBuckets(objects.bucket('containers'))) {
      const f = new Fields(c);
      out.containers.push({
        namespace: ns,
        id,
        image: f.str('image'),
        snapshotter: f.str('snapshotter'),
        snapshotKey: f.str('snapshotKey'),
      });
    }
    const blobs = new Fields(objects.bucket('content')).bucket('blob');
    const blobLabels = (digest: string): Record<string, string> => labelsOf(blobs?.bucket(digest)?.bucket('labels'));
    for (const [name, img] of subBuckets(objects.bucket('images'))) {
      const targetDigest = img.bucket('target')?.get('digest');
      out.images.push({
        namespace: ns,
        name,
        targetDigest: targetDigest && text.decode(targetDigest),
        topSnapshots: topSnapshotsOf(targetDigest && text.decode(targetDigest), blobLabels),
      });
    }
    for (const [snapshotter, sb] of subBuckets(objects.bucket('snapshots'))) {
      for (const [key, s] of subBuckets(sb)) {
        const f = new Fields(s);
        out.snapshots.push({
          namespace: ns,
          snapshotter,
          key,
          name: f.str('name'),
          parent: f.str('parent') || undefined,
          createdAt: f.time('createdat'),
        });
      }
    }
  }
  return out;
}

/** Per snapshotter, the top snapshots of an image's platforms, through the unpacker's content labels (an index's manifests first). */
function topSnapshotsOf(targetDigest: string | undefined, blobLabels: (digest: string) => Record<string, string>): Map<string, string[]> {
  const tops = new Map<string, string[]>();
  if (!targetDigest) return tops;
  const target = blobLabels(targetDigest);
  const manifests = Object.entries(target)
    .filter(([k]) => k.startsWith('containerd.io/gc.ref.content.m.'))
    .map(([, v]) => v);
  for (const m of manifests.length ? manifests : [targetDigest]) {
    const config = (manifests.length ? blobLabels(m) : target)['containerd.io/gc.ref.content.config'];
    if (!config) continue;
    for (const [k, v] of Object.entries(blobLabels(config))) {
      const prefix = 'containerd.io/gc.ref.snapshot.';
      if (k.startsWith(prefix)) tops.set(k.slice(prefix.length), [...(tops.get(k.slice(prefix.length)) ?? []), v]);
    }
  }
  return tops;
}
