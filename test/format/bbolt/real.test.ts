/**
 * A file written by the real bbolt (1.3.6, Debian's golang-github-coreos-bbolt-dev)
 * from real/make-real-db.go: two transactions, the second deleting one key.
 * What the Go program wrote is what must be read; the layout facts the
 * codecs state (checksum, inline buckets, overflow, freelist) are proved
 * against bbolt's own bytes here, not only against this project's writer.
 */
import { describe, expect, it } from 'vitest';
import { freelistPageIds, scanFreeLeaves, unreachablePageIds } from '../../../src/format/bbolt/free-pages.js';
import { PageFlag } from '../../../src/format/bbolt/page.js';
import { headerAt, openImage, pagesOf, plain, realImage } from './helpers.js';

const dec = new TextDecoder();

describe('a file written by bbolt itself', () => {
  const image = realImage();

  it('has two valid metas, the current one of transaction 3 on page 1', () => {
    const db = openImage(image, 'real-bbolt.db');
    expect(db.warnings).toEqual([]);
    expect(db.pageSize).toBe(4096);
    expect(db.metaPage).toBe(1);
    expect(db.meta.txid).toBe(3n);
    expect(db.previous()?.meta?.txid).toBe(2n);
  });

  it('reads every bucket and value the Go program put there', () => {
    const db = openImage(image);
    const root = plain(db.root()) as { empty: object; v1: { default: Record<string, unknown> } };
    expect(Object.keys(root)).toEqual(['empty', 'v1']);
    expect(root.empty).toEqual({});
    const ns = root.v1.default;
    expect(Object.keys(ns)).toEqual(['big', 'many', 'seq', 'small']);
    expect(ns.small).toEqual({ a: '1', b: '2' });
    expect(ns.big).toBe('0123456789'.repeat(1000));
    const many = ns.many as Record<string, string>;
    expect(Object.keys(many)).toHaveLength(600);
    for (let i = 0; i < 600; i++) expect(many[`key-${String(i).padStart(4, '0')}`]).toBe(`value-${String(i).padStart(4, '0')}-${'x'.repeat(i % 17)}`);
  });

  it('sees bbolt’s shapes: inline small buckets, a branch over the 600 keys, the big value in overflow pages, a sequence', () => {
    const db = openImage(image);
    const ns = db.bucket('v1')?.bucket('default');
    expect(ns?.bucket('small')?.inline).toBe(true);
    expect(db.bucket('empty')?.inline).toBe(true);
    const many = ns?.bucket('many');
    expect(headerAt(image, many?.root ?? 0).flags).toBe(PageFlag.branch);
    expect(dec.decode(many?.get('key-0599'))).toBe(`value-0599-${'x'.repeat(599 % 17)}`);
    expect(ns?.bucket('seq')?.sequence).toBe(7n);
    expect(pagesOf(image, PageFlag.leaf).some((id) => headerAt(image, id).overflow === 2)).toBe(true);
  });

  it("agrees with bbolt's freelist: the pages it lists are exactly those the current tree does not reach", () => {
    const db = openImage(image);
    const listed = freelistPageIds(db);
    expect(listed?.length).toBeGreaterThan(0);
    expect(unreachablePageIds(db)).toEqual(listed);
  });

  it('finds the deleted key in a freed page and in the previous transaction’s tree', () => {
    const db = openImage(image);
    const records = [...scanFreeLeaves(db, freelistPageIds(db) ?? [])];
    const doomed = records.find((r) => dec.decode(r.key) === 'doomed');
    expect(doomed && dec.decode(doomed.value)).toBe('removed in transaction 2');
    expect(db.bucket('v1')?.bucket('default')?.get('doomed')).toBeUndefined();
    expect(dec.decode(db.previousRoot().bucket('v1')?.bucket('default')?.get('doomed'))).toBe('removed in transaction 2');
  });
});
