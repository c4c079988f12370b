import { describe, expect, it } from 'vitest';
import { elementsOf } from './elements-of.js';
import { freelistPageIds, newLeafScanStats, reachablePageIds, scanFreeLeaves, unreachablePageIds } from '../../../src/format/bbolt/free-pages.js';
import { PageFlag } from '../../../src/format/bbolt/page.js';
import { buildBoltImage } from '../../../src/format/bbolt/writer.js';
import { setU32, setU64 } from '../../../src/format/le.js';
import { boltErrorOf, currentMetaPage, headerAt, metaAt, openImage, pagesOf, patchHeader, patchMeta, plain } from './helpers.js';

const PS = 4096;
const dec = new TextDecoder();

/** The previous transaction held two containers and some snapshots; the current one deleted c2 and one snapshot. */
function afterDelete(): Uint8Array {
  const snapshots: Record<string, string> = {};
  for (let i = 0; i < 400; i++) snapshots[`sha256:${String(i).padStart(4, '0')}`] = `snapshot ${i}`;
  const kept = { ...snapshots };
  delete kept['sha256:0123'];
  return buildBoltImage(
    { v1: { containers: { c1: 'busybox' }, snapshots: kept } },
    { previous: { v1: { containers: { c1: 'busybox', c2: 'removed container' }, snapshots } } },
  );
}

describe('free pages', () => {
  it('lists the freelist page ids, and the same pages as unreachable from the current tree', () => {
    const image = afterDelete();
    const db = openImage(image);
    const listed = freelistPageIds(db);
    const previousHighWater = metaAt(image, (1 - currentMetaPage(image)) as 0 | 1).highWater;
    // The writer frees every page of the previous transaction: 2 up to its high-water mark.
    expect(listed).toEqual(Array.from({ length: previousHighWater - 2 }, (_, i) => i + 2));
    expect(unreachablePageIds(db)).toEqual(listed);
    const used = reachablePageIds(db);
    for (const id of listed ?? []) expect(used.has(id)).toBe(false);
    expect(used.has(db.meta.root.root)).toBe(true);
    expect(used.has(db.meta.freelist ?? -1)).toBe(true);
  });

  it('finds the deleted records in freed leaves, whole', () => {
    const db = openImage(afterDelete());
    const stats = newLeafScanStats();
    const records = [...scanFreeLeaves(db, freelistPageIds(db) ?? [], stats)];
    const found = new Map(records.filter((r) => !r.isBucket).map((r) => [dec.decode(r.key), dec.decode(r.value)]));
    expect(found.get('c2')).toBe('removed container');
    // containers was small enough to be inline: c2 lived on only inside its value in a freed leaf.
    expect(records.find((r) => dec.decode(r.key) === 'c2')?.inlinePath.map((k) => dec.decode(k))).toEqual(['containers']);
    expect(found.get('sha256:0123')).toBe('snapshot 123');
    expect(stats.damagedRecords).toBe(0);
    expect(stats.recordsFound).toBe(records.length);
    expect(stats.leafPages).toBeGreaterThan(1);
    expect(records.some((r) => r.isBucket && dec.decode(r.key) === 'containers')).toBe(true);
    // And the previous meta's tree, untouched here, still holds them in place.
    expect((plain(db.previousRoot()) as { v1: { containers: unknown } }).v1.containers).toEqual({ c1: 'busybox', c2: 'removed container' });
  });

  it('skips pages that are not leaves naming themselves, and counts damaged elements without stopping', () => {
    const image = afterDelete();
    const db0 = openImage(image);
    const free = freelistPageIds(db0) ?? [];
    const leaves = free.filter((id) => headerAt(image, id).flags === PageFlag.leaf);
    const [first, second] = leaves;
    const good = elementsOf(image, second).length;
    setU32(image, first * PS + 16 + 4, 100_000); // element 0's pos: out of the page
    patchHeader(image, second, { count: 0xffff }); // more than the page holds: read as far as it goes
    const stats = newLeafScanStats();
    const records = [...scanFreeLeaves(openImage(image), [...free, 0, 1, 10_000_000], stats)];
    expect(stats.damagedRecords).toBeGreaterThanOrEqual(1);
    expect(stats.damagedPages).toBe(1);
    expect(records.filter((r) => r.page === second).length).toBeGreaterThanOrEqual(good);
    expect(records.filter((r) => r.page === first).length).toBe(elementsOf(afterDelete(), first).length - 1);
    expect(stats.pagesRead).toBe(free.length); // metas and pages past the end are not free pages: never read
  });

  it('passes over a page whose header names another page (an overflow continuation, a wiped page)', () => {
    const image = afterDelete();
    const free = freelistPageIds(openImage(image)) ?? [];
    const leaf = free.find((id) => headerAt(image, id).flags === PageFlag.leaf) ?? -1;
    patchHeader(image, leaf, { id: 12345 });
    const records = [...scanFreeLeaves(openImage(image), free)];
    expect(records.some((r) => r.page === leaf)).toBe(false);
  });

  it('says undefined when the file keeps no freelist, and still computes the unreachable pages', () => {
    const image = afterDelete();
    const expected = freelistPageIds(openImage(image));
    patchMeta(image, currentMetaPage(image), { freelist: null });
    const db = openImage(image);
    expect(freelistPageIds(db)).toBeUndefined();
    // The old freelist page is now unreachable too.
    expect(unreachablePageIds(db)).toEqual([...(expected ?? []), metaAt(image, currentMetaPage(image)).highWater - 1]);
  });

  it('refuses a freelist page of the wrong kind or listing pages out of range', () => {
    const image = afterDelete();
    const at = openImage(image).meta.freelist ?? -1;
    patchHeader(image, at, { flags: PageFlag.leaf });
    expect(boltErrorOf(() => freelistPageIds(openImage(image))).message).toBe(`test.db: page ${at}: expected a freelist page, found flags 0x2 (leaf)`);
    patchHeader(image, at, { flags: PageFlag.freelist });
    setU64(image, at * PS + 16, 1);
    expect(boltErrorOf(() => freelistPageIds(openImage(image))).found).toBe('1');
  });

  it('refuses to call pages free when two buckets share a page', () => {
    const image = buildBoltImage({ a: { x: 'y'.repeat(2000), z: 'w'.repeat(2000) }, b: { x: 'y'.repeat(2000), z: 'w'.repeat(2000) } });
    const db = openImage(image);
    const [a, b] = [db.bucket('a')?.root ?? -1, db.bucket('b')?.root ?? -1];
    const root = db.meta.root.root;
    // Element 1 (bucket b) of the root leaf: point its header at a's root.
    const elem = root * PS + 16 + 16;
    const value = elem + new DataView(image.buffer).getUint32(elem + 4, true) + 1;
    setU64(image, value, a);
    expect(b).not.toBe(a);
    expect(boltErrorOf(() => unreachablePageIds(openImage(image))).found).toBe(`page ${a} again`);
  });

  it('finds leaves anywhere it is pointed, such as every page of the file', () => {
    const image = afterDelete();
    const db = openImage(image);
    const all = Array.from({ length: db.pages.pageCount }, (_, i) => i);
    const keys = new Set([...scanFreeLeaves(db, all)].map((r) => dec.decode(r.key)));
    expect(keys.has('c2')).toBe(true);
    expect(keys.has('c1')).toBe(true); // live leaves too, when asked
    expect(pagesOf(image, PageFlag.freelist).length).toBe(2);
  });
});
