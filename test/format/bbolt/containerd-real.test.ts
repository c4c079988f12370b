/**
 * The bbolt files of a real containerd 1.6 with its devmapper snapshotter
 * (fixtures/containerd-real, made in the VM: see that commit): meta.db
 * (containerd's metadata), metadata.db (the snapshotter's), and the pool's
 * ctdpool.db (POOL.db: the devmapper snapshotter's device records). Each is
 * read whole, and the pages bbolt lists free are exactly those the current
 * tree leaves unreached: the reader's walk agrees with bbolt's own freelist.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BoltDb } from '../../../src/format/bbolt/db.js';
import { freelistPageIds, scanFreeLeaves, unreachablePageIds } from '../../../src/format/bbolt/free-pages.js';
import type { BoltBucket } from '../../../src/format/bbolt/bucket.js';
import { type BoltTreeInput, buildBoltImage } from '../../../src/format/bbolt/writer.js';
import { openImage } from './helpers.js';
import { projectRoot } from '../../support/env.js';
import { plain } from './helpers.js';

const dir = join(projectRoot, 'fixtures', 'containerd-real');
const dec = new TextDecoder();

function withDb<T>(file: string, f: (db: BoltDb) => T): T {
  const db = BoltDb.open(join(dir, file));
  try {
    return f(db);
  } finally {
    db.close();
  }
}

describe('containerd’s real bbolt files', () => {
  for (const [file, buckets] of [
    ['meta.db', ['v1']],
    ['metadata.db', ['v1']],
    ['ctdpool.db', ['device_ids', 'devices']],
  ] as const) {
    it(`${file}: lists its top-level buckets, reads whole, and its freelist is what the tree leaves unreached`, () => {
      withDb(file, (db) => {
        expect(db.warnings).toEqual([]);
        expect(db.previous()).toBeDefined();
        const top = [...db.root().entries()];
        expect(top.map((e) => dec.decode(e.key))).toEqual(buckets);
        expect(top.every((e) => e.bucket !== undefined)).toBe(true);
        expect(Object.keys(plain(db.root()))).toEqual(buckets);
        const listed = freelistPageIds(db);
        expect(listed?.length).toBeGreaterThan(0);
        expect(unreachablePageIds(db)).toEqual(listed);
      });
    });
  }

  /** A bucket's whole content, keys and values as bytes. */
  const bytesOf = (b: BoltBucket): Map<Uint8Array, Uint8Array | BoltTreeInput> => {
    const out = new Map<Uint8Array, Uint8Array | BoltTreeInput>();
    for (const e of b.entries()) out.set(e.key, e.bucket ? bytesOf(e.bucket) : e.value);
    return out;
  };

  for (const file of ['meta.db', 'metadata.db', 'ctdpool.db']) {
    it(`${file}: round-trips, read from containerd's bytes, written by the test writer, read back the same, byte for byte`, () => {
      const tree = withDb(file, (db) => bytesOf(db.root()));
      const again = openImage(buildBoltImage(tree as BoltTreeInput), file);
      expect(bytesOf(again.root())).toEqual(tree);
    });
  }

  it('meta.db: namespaces, containers and the devmapper snapshots containerd listed', () => {
    withDb('meta.db', (db) => {
      const v1 = db.bucket('v1');
      expect(Object.keys(plain(v1 ?? db.root())).filter((k) => k !== 'version')).toEqual(['default', 'other']);
      const containers = [...(v1?.bucket('default')?.bucket('containers') ?? [])].map((e) => dec.decode(e.key));
      expect(containers).toEqual(['db', 'web']); // 'gone' was removed
      expect(dec.decode(v1?.bucket('other')?.bucket('containers')?.bucket('svc')?.get('snapshotter'))).toBe('devmapper');
    });
  });

  it('ctdpool.db: a removed device’s record is gone from the tree and still in a free page', () => {
    withDb('ctdpool.db', (db) => {
      const devices = db.bucket('devices');
      expect(devices?.get('ctdpool-snap-11')).toBeUndefined();
      const info = JSON.parse(dec.decode(devices?.get('ctdpool-snap-1'))) as { device_id: number };
      expect(info.device_id).toBe(1);
      const freed = [...scanFreeLeaves(db, freelistPageIds(db) ?? [])].find((r) => dec.decode(r.key) === 'ctdpool-snap-11');
      expect((JSON.parse(dec.decode(freed?.value)) as { device_id: number }).device_id).toBe(11);
    });
  });
});
