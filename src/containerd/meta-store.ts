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
  createdAt?: string;
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
  children: string[];
  createdAt?: string;
  labels: Record<string, string>;
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
const str = (b: BoltBucket | undefined, key: string): string | undefined => {
  const v = b?.get(key);
  return v === undefined ? undefined : text.decode(v);
};

/** Every sub-bucket of `b` by name (values are skipped: containerd keeps none at these levels). */
function* subBuckets(b: BoltBucket | undefined): Generator<[string, BoltBucket]> {
  if (!b) return;
  for (const e of b.entries()) if (e.bucket) yield [text.decode(e.key), e.bucket];
}

export function labelsOf(b: BoltBucket | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!b) return out;
  for (const e of b.entries()) if (e.value) out[text.decode(e.key)] = text.decode(e.value);
  return out;
}

function timeOf(b: BoltBucket, key: string): string | undefined {
  const v = b.get(key);
  return v === undefined ? undefined : parseGoTime(v);
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
    for (const [id, c] of subBuckets(nsb.bucket('containers'))) {
      out.containers.push({
        namespace: ns,
        id,
        image: str(c, 'image'),
        snapshotter: str(c, 'snapshotter'),
        snapshotKey: str(c, 'snapshotKey'),
        createdAt: timeOf(c, 'createdat'),
      });
    }
    const blobs = nsb.bucket('content')?.bucket('blob');
    const blobLabels = (digest: string): Record<string, string> => labelsOf(blobs?.bucket(digest)?.bucket('labels'));
    for (const [name, img] of subBuckets(nsb.bucket('images'))) {
      const targetDigest = str(img.bucket('target'), 'digest');
      const topSnapshots = new Map<string, string[]>();
      if (targetDigest) {
        const target = blobLabels(targetDigest);
        const manifests = Object.entries(target)
          .filter(([k]) => k.startsWith('containerd.io/gc.ref.content.m.'))
          .map(([, v]) => v);
        for (const m of manifests.length ? manifests : [targetDigest]) {
          const config = (manifests.length ? blobLabels(m) : target)['containerd.io/gc.ref.content.config'];
          if (!config) continue;
          for (const [k, v] of Object.entries(blobLabels(config))) {
            const prefix = 'containerd.io/gc.ref.snapshot.';
            if (!k.startsWith(prefix)) continue;
            const sn = k.slice(prefix.length);
            topSnapshots.set(sn, [...(topSnapshots.get(sn) ?? []), v]);
          }
        }
      }
      out.images.push({ namespace: ns, name, targetDigest, topSnapshots });
    }
    for (const [snapshotter, sb] of subBuckets(nsb.bucket('snapshots'))) {
      for (const [key, s] of subBuckets(sb)) {
        out.snapshots.push({
          namespace: ns,
          snapshotter,
          key,
          name: str(s, 'name'),
          parent: str(s, 'parent') || undefined,
          children: [...(s.bucket('children')?.entries() ?? [])].map((e) => text.decode(e.key)),
          createdAt: timeOf(s, 'createdat'),
          labels: labelsOf(s.bucket('labels')),
        });
      }
    }
  }
  return out;
}
