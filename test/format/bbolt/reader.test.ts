import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BoltDb } from '../../../src/format/bbolt/db.js';
import { PageFlag } from '../../../src/format/bbolt/page.js';
import { type BoltTreeInput, buildBoltImage } from '../../../src/format/bbolt/writer.js';
import { MemSource, headerAt, metaAt, openImage, pagesOf, patchMeta, plain } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const keyFor = (i: number): string => `key-${String(i).padStart(5, '0')}`;
const valueFor = (i: number): string => `value ${i} ${'z'.repeat(i % 40)}`;

/** A containerd-like tree with every shape: inline and paged buckets, nesting, overflow, branches. */
function sample(keys = 2000): BoltTreeInput {
  const many: Record<string, string> = {};
  for (let i = 0; i < keys; i++) many[keyFor(i)] = valueFor(i);
  return {
    v1: {
      default: {
        containers: { c1: { image: 'docker.io/library/busybox:latest', labels: { a: '1', b: '2' } } },
        snapshots: { overlayfs: { 'sha256:aaaa': { kind: '2', parent: '' } } },
        many,
        big: 'B'.repeat(20_000),
      },
      empty: {},
    },
    top: 'a value in the root bucket',
  };
}

describe('a written image read back', () => {
  for (const pageSize of [1024, 4096, 16384]) {
    it(`gives back the same structure (page size ${pageSize})`, () => {
      const tree = sample();
      const db = openImage(buildBoltImage(tree, { pageSize }));
      expect(db.pageSize).toBe(pageSize);
      expect(db.warnings).toEqual([]);
      expect(plain(db.root())).toEqual(tree);
    });
  }

  it('uses branch pages, overflow pages and inline buckets where bbolt would', () => {
    const image = buildBoltImage(sample(), { pageSize: 1024 });
    expect(pagesOf(image, PageFlag.branch, 1024).length).toBeGreaterThan(1); // more than one level of branches
    expect(pagesOf(image, PageFlag.leaf, 1024).some((id) => headerAt(image, id, 1024).overflow >= 19)).toBe(true); // the 20 KB value
    const defaults = openImage(image).root().bucket('v1')?.bucket('default');
    expect(defaults?.inline).toBe(false);
    expect(defaults?.bucket('containers')?.bucket('c1')?.bucket('labels')?.inline).toBe(true);
    expect(defaults?.bucket('many')?.inline).toBe(false);
  });

  it('finds every key of a three-level tree, and none between or beyond them', () => {
    const db = openImage(buildBoltImage(sample(3000), { pageSize: 1024 }));
    const many = db.bucket('v1')?.bucket('default')?.bucket('many');
    for (let i = 0; i < 3000; i += 7) expect(dec.decode(many?.get(keyFor(i)))).toBe(valueFor(i));
    expect(many?.get('key-')).toBeUndefined(); // below the first key
    expect(many?.get(`${keyFor(10)}x`)).toBeUndefined(); // between two keys
    expect(many?.get('zzz')).toBeUndefined(); // above the last key
  });

  it('orders keys bytewise and takes byte keys through a Map', () => {
    const tree = new Map<Uint8Array | string, Uint8Array | string>([
      [Uint8Array.of(0xff), 'ff'],
      [Uint8Array.of(0x00, 0x01), '0001'],
      ['a', 'a'],
      [Uint8Array.of(0x00), '00'],
    ]);
    const db = openImage(buildBoltImage(tree));
    const keys = [...db.root().entries()].map((e) => [...e.key]);
    expect(keys).toEqual([[0x00], [0x00, 0x01], [0x61], [0xff]]);
    expect(dec.decode(db.root().get(Uint8Array.of(0x00, 0x01)))).toBe('0001');
  });

  it('tells values from sub-buckets: get() misses a bucket, bucket() misses a value, as bbolt', () => {
    const db = openImage(buildBoltImage(sample()));
    const v1 = db.bucket('v1');
    expect(v1?.get('default')).toBeUndefined();
    expect(v1?.bucket('default')).toBeDefined();
    expect(db.root().bucket('top')).toBeUndefined();
    expect(dec.decode(db.root().get('top'))).toBe('a value in the root bucket');
    const kinds = [...db.root().entries()].map((e) => [dec.decode(e.key), e.bucket ? 'bucket' : 'value']);
    expect(kinds).toEqual([
      ['top', 'value'],
      ['v1', 'bucket'],
    ]);
    expect([...(v1?.bucket('empty') ?? [])]).toEqual([]);
  });

  it('hands out copies: changing a returned value changes nothing read later', () => {
    const db = openImage(buildBoltImage(sample()));
    const first = db.root().get('top') ?? new Uint8Array(0);
    first.fill(0);
    expect(dec.decode(db.root().get('top'))).toBe('a value in the root bucket');
  });

  it('reads pages on demand: one look-up reads a few pages of a large file, not all of it', () => {
    const image = buildBoltImage(sample(5000), { pageSize: 1024 });
    const source = new MemSource('big.db', image);
    const db = new BoltDb(source);
    const before = source.reads;
    expect(dec.decode(db.bucket('v1')?.bucket('default')?.bucket('many')?.get(keyFor(4321)))).toBe(valueFor(4321));
    expect(source.reads - before).toBeLessThan(15);
    expect(image.length / 1024).toBeGreaterThan(300);
  });

  it('reads the current meta (higher txid) and keeps the previous tree readable', () => {
    const image = buildBoltImage({ now: 'current', shared: 'x' }, { previous: { before: 'previous', shared: 'x' }, txid: 10n });
    const db = openImage(image);
    expect(db.metaPage).toBe(0); // txid 10 lives on page 10 % 2
    expect(db.meta.txid).toBe(10n);
    expect(db.previous()?.meta?.txid).toBe(9n);
    expect(plain(db.root())).toEqual({ now: 'current', shared: 'x' });
    expect(plain(db.previousRoot())).toEqual({ before: 'previous', shared: 'x' });
  });

  it('takes meta 0 when both have the same txid, as bbolt DB.meta', () => {
    const image = buildBoltImage({ a: '1' }, { previous: { b: '2' } });
    patchMeta(image, 0, { txid: metaAt(image, 1).txid });
    patchMeta(image, 1, { txid: metaAt(image, 1).txid });
    expect(openImage(image).metaPage).toBe(0);
  });

  it('opens a file by path and closes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmthin-bbolt-'));
    try {
      const path = join(dir, 'meta.db');
      writeFileSync(path, buildBoltImage(sample(10)));
      const db = BoltDb.open(path);
      expect(db.name).toBe(path);
      expect(Object.keys(plain(db.root()))).toEqual(['top', 'v1']);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts string keys as UTF-8', () => {
    const db = openImage(buildBoltImage({ naïve: 'ü' }));
    expect(dec.decode(db.root().get(enc.encode('naïve')))).toBe('ü');
  });
});
