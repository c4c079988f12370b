/**
 * Damaged and hostile bbolt files: each must fail as one BoltError naming
 * the file and the page, never hang, never escape as a RangeError or
 * TypeError, never allocate what a damaged count claims.
 */
import { describe, expect, it } from 'vitest';
import { BoltBucket } from '../../../src/format/bbolt/bucket.js';
import type { BoltDb } from '../../../src/format/bbolt/db.js';
import { parseBranchElements, writeBranchElements, writeLeafElements } from '../../../src/format/bbolt/elements.js';
import { BOLT_MAGIC, BOLT_VERSION, writeMeta } from '../../../src/format/bbolt/meta.js';
import { PageFlag, writePageHeader } from '../../../src/format/bbolt/page.js';
import { buildBoltImage } from '../../../src/format/bbolt/writer.js';
import { getU32, setU32, setU64 } from '../../../src/format/le.js';
import { boltErrorOf, currentMetaPage, headerAt, metaAt, openImage, pagesOf, patchHeader, patchMeta, plain } from './helpers.js';

const PS = 4096;
const where = { file: 'test', page: 0 };

function sample(): Uint8Array {
  const many: Record<string, string> = {};
  for (let i = 0; i < 1500; i++) many[`k${String(i).padStart(5, '0')}`] = `v${i}`.repeat(3);
  return buildBoltImage({ v1: { many, small: { a: '1' }, big: 'x'.repeat(9000) }, z: 'last' });
}

/** Every key and value under the root, walked whole: what a caller listing a database does. */
function walkAll(db: BoltDb): unknown {
  return plain(db.root());
}

/** The id of the root page of bucket v1/many, a branch over leaves. */
function manyRoot(image: Uint8Array): number {
  return openImage(image).bucket('v1')?.bucket('many')?.root ?? -1;
}

function childAt(image: Uint8Array, branch: number, i: number): number {
  const page = image.subarray(branch * PS, (branch + 1) * PS);
  return parseBranchElements(page, headerAt(image, branch).count, where)[i].child;
}

function setChild(image: Uint8Array, branch: number, i: number, child: number): void {
  setU64(image, branch * PS + 16 + 16 * i + 8, child);
}

describe('hostile bbolt files', () => {
  it('a file cut short: opens with a warning, then fails at the first page past the end', () => {
    const image = sample();
    const cut = image.subarray(0, Math.floor(image.length / PS / 2) * PS);
    const db = openImage(cut);
    expect(db.warnings.join('\n')).toMatch(/below the high-water mark/);
    const e = boltErrorOf(() => walkAll(db));
    expect(e.message).toMatch(/^test\.db: page \d+: expected (a page|overflow pages) inside the file \(\d+ pages/);
  });

  it('a file cut inside page 1: meta 0 is read, the missing meta 1 is a warning', () => {
    const db = openImage(sample().subarray(0, 100));
    expect(db.metaPage).toBe(0);
    expect(db.warnings[0]).toBe("page 1: meta not used: the file ending at byte 100, before the meta; read page 0's (txid 2)");
    expect(boltErrorOf(() => walkAll(db)).page).toBe(0);
  });

  it('a file too short for any meta, and an empty file, are BoltErrors of the file', () => {
    for (const size of [50, 0]) {
      const e = boltErrorOf(() => openImage(sample().subarray(0, size)));
      expect(e.page).toBeUndefined();
      expect(e.message).toMatch(/^test\.db: expected a valid meta on page 0 or 1, found page 0 with /);
    }
  });

  it('both metas bad: a BoltError saying what is wrong with each', () => {
    const image = sample();
    image[70]++;
    image[PS + 70]++;
    const e = boltErrorOf(() => openImage(image));
    expect(e.message).toMatch(
      /^test\.db: expected a valid meta on page 0 or 1, found page 0 with checksum 0x[0-9a-f]+ \(computed 0x[0-9a-f]+\), and no valid meta 1/,
    );
    const magic = sample();
    magic.fill(0, 16, 20);
    magic.fill(0, PS + 16, PS + 20);
    expect(boltErrorOf(() => openImage(magic)).message).toContain('page 0 with magic 0x0 (expected 0xed0cdaed)');
  });

  it('one meta bad: the other is used, and the warning says which and why', () => {
    const image = buildBoltImage({ now: '1' }, { previous: { before: '0' } });
    const current = currentMetaPage(image);
    image[current * PS + 60] ^= 0xff; // inside txid: the checksum no longer matches
    const db = openImage(image);
    expect(db.metaPage).toBe(1 - current);
    expect(db.warnings).toHaveLength(1);
    expect(db.warnings[0]).toMatch(
      new RegExp(`^page ${current}: meta not used: checksum 0x[0-9a-f]+ \\(computed 0x[0-9a-f]+\\); read page ${1 - current}'s \\(txid 2\\)$`),
    );
    expect(plain(db.root())).toEqual({ before: '0' });
    expect(boltErrorOf(() => db.previousRoot()).page).toBe(current);
  });

  it('a bad meta 0 in a file of 8 KiB pages: the page size is found from meta 1, as bbolt probes for it', () => {
    const image = buildBoltImage({ a: '1' }, { pageSize: 8192 });
    image[70]++;
    const db = openImage(image);
    expect(db.pageSize).toBe(8192);
    expect(db.metaPage).toBe(1);
    expect(plain(db.root())).toEqual({ a: '1' });
  });

  it('a branch pointing past the high-water mark: the branch is named', () => {
    const image = sample();
    const branch = manyRoot(image);
    setChild(image, branch, 1, 999_999);
    const e = boltErrorOf(() => walkAll(openImage(image)));
    expect(e.page).toBe(branch);
    expect(e.message).toBe(`test.db: page ${branch}: expected a page below the high-water mark ${metaAt(image, 1).highWater}, found page 999999`);
  });

  it('a branch pointing below the high-water mark but past the end of the file', () => {
    const image = sample();
    const branch = manyRoot(image);
    for (const p of [0, 1] as const) patchMeta(image, p, { highWater: 5000 });
    setChild(image, branch, 0, 4000);
    const e = boltErrorOf(() => walkAll(openImage(image)));
    expect(e.page).toBe(branch);
    expect(e.expected).toMatch(/^a page inside the file/);
  });

  it('a cycle, the branch its own child: refused for look-ups and walks alike', () => {
    const image = sample();
    const branch = manyRoot(image);
    const keyUnder2 = parseBranchElements(image.subarray(branch * PS, (branch + 1) * PS), 3, where)[2].key;
    setChild(image, branch, 2, branch);
    const db = openImage(image);
    expect(boltErrorOf(() => walkAll(db)).message).toBe(`test.db: page ${branch}: expected a page that no other element refers to, found page ${branch} again`);
    const many = db.bucket('v1')?.bucket('many');
    expect(boltErrorOf(() => many?.get(keyUnder2)).message).toBe(
      `test.db: page ${branch}: expected a child page not already on the path from the root, found page ${branch} again`,
    );
    expect(many?.get('k00001')).toBeDefined(); // the rest of the tree still answers
  });

  it('a cycle through the parent, two levels up: refused', () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) many[`k${String(i).padStart(5, '0')}`] = `v${i}`;
    const image = buildBoltImage({ many }, { pageSize: 1024 });
    const root = openImage(image).bucket('many')?.root ?? -1;
    const middle = parseBranchElements(image.subarray(root * 1024, (root + 1) * 1024), 1, where)[0].child;
    expect(headerAt(image, middle, 1024).flags).toBe(PageFlag.branch);
    setU64(image, middle * 1024 + 16 + 8, root); // middle's first child: the root
    const db = openImage(image);
    expect(boltErrorOf(() => walkAll(db)).message).toBe(`test.db: page ${middle}: expected a page that no other element refers to, found page ${root} again`);
    expect(boltErrorOf(() => db.bucket('many')?.get('k00000')).found).toBe(`page ${root} again`);
  });

  it('two children of one branch pointing at one page: a page reached twice is refused', () => {
    const image = sample();
    const branch = manyRoot(image);
    setChild(image, branch, 1, childAt(image, branch, 0));
    expect(boltErrorOf(() => walkAll(openImage(image))).found).toMatch(/again$/);
  });

  it('a leaf element pointing out of its page: the leaf is named', () => {
    const image = sample();
    const leaf = childAt(image, manyRoot(image), 0);
    setU32(image, leaf * PS + 16 + 16 * 3 + 4, 5000); // element 3's pos
    const e = boltErrorOf(() => walkAll(openImage(image)));
    expect(e.message).toBe(`test.db: page ${leaf}: expected element 3's key inside the page's 4096 bytes, found bytes 5064..5070`);
  });

  it('an overflow past the end of the file, and past the high-water mark', () => {
    const image = sample();
    const leaf = childAt(image, manyRoot(image), 0);
    patchHeader(image, leaf, { overflow: 0xffffffff });
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toMatch(
      new RegExp(`^test\\.db: page ${leaf}: expected overflow pages (inside the file|below the high-water).*found overflow 4294967295$`),
    );
  });

  it('wrong page flags where a branch or leaf belongs', () => {
    const image = sample();
    const leaf = childAt(image, manyRoot(image), 1);
    patchHeader(image, leaf, { flags: PageFlag.freelist });
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(`test.db: page ${leaf}: expected a leaf or branch page, found flags 0x10 (freelist)`);
    const root = sample();
    patchHeader(root, metaAt(root, 1).root.root, { flags: 0x03 });
    expect(boltErrorOf(() => walkAll(openImage(root))).found).toBe('flags 0x3');
  });

  it('a huge count: refused before anything is allocated for it', () => {
    const image = sample();
    const leaf = childAt(image, manyRoot(image), 0);
    patchHeader(image, leaf, { count: 0xffff });
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(`test.db: page ${leaf}: expected at most 255 elements in 4096 bytes, found count 65535`);
  });

  it('a page whose header names another page, and an empty branch', () => {
    const image = sample();
    const branch = manyRoot(image);
    const leaf = childAt(image, branch, 0);
    patchHeader(image, leaf, { id: leaf + 1 });
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(
      `test.db: page ${leaf}: expected page id ${leaf} in the page's header, found ${leaf + 1}`,
    );
    const empty = sample();
    patchHeader(empty, branch, { count: 0 });
    expect(boltErrorOf(() => walkAll(openImage(empty))).message).toBe(
      `test.db: page ${branch}: expected a branch page with at least one element, found count 0`,
    );
  });

  it('keys out of order, within a page and across pages', () => {
    const image = sample();
    const branch = manyRoot(image);
    const leaf = childAt(image, branch, 0);
    image[leaf * PS + 16 + 16 * 2 + getU32(image, leaf * PS + 16 + 32 + 4) + 3] = 0x00; // element 2's key drops below element 1's
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(
      `test.db: page ${leaf}: expected keys in increasing order, found element 2 at or before element 1`,
    );
    const swapped = sample();
    const [a, b] = [childAt(swapped, branch, 0), childAt(swapped, branch, 1)];
    setChild(swapped, branch, 0, b);
    setChild(swapped, branch, 1, a);
    expect(boltErrorOf(() => walkAll(openImage(swapped))).expected).toBe('keys in increasing order across pages');
  });

  it("a sub-bucket whose root is an enclosing bucket's root: refused, it would nest forever", () => {
    const image = buildBoltImage({ outer: { inner: { x: 'y'.repeat(3000) }, pad: 'p'.repeat(3000) } });
    const db = openImage(image);
    const outer = db.bucket('outer');
    const inner = outer?.bucket('inner');
    // Point inner's header at outer's root page.
    const at = findBytes(image, u64(inner?.root ?? 0), outer?.root ?? 0);
    setU64(image, at, outer?.root ?? 0);
    const e = boltErrorOf(() => openImage(image).bucket('outer')?.bucket('inner'));
    expect(e.message).toBe(`test.db: page ${outer?.root}: expected a sub-bucket root that is not an enclosing bucket's, found root page ${outer?.root}`);
  });

  it('an inline bucket whose page is no leaf, or whose element leaves the value', () => {
    const image = buildBoltImage({ b: { k: 'v' } });
    const root = metaAt(image, 1).root.root;
    const db = openImage(image);
    expect(db.bucket('b')?.inline).toBe(true);
    // Root leaf: element 0 (key "b") value = 16-byte header + inline page; its flags are at value + 16 + 8.
    const value = root * PS + 16 + getU32(image, root * PS + 16 + 4) + 1;
    image[value + 16 + 8] = PageFlag.branch;
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(
      `test.db: page ${root}: expected an inline bucket holding a leaf page, found flags 0x1 (branch)`,
    );
    image[value + 16 + 8] = PageFlag.leaf;
    setU32(image, value + 16 + 16 + 12, 1000); // inline element 0's vsize
    expect(boltErrorOf(() => walkAll(openImage(image))).expected).toMatch(/^element 0's value inside the page's \d+ bytes$/);
  });

  it('a value flagged as a bucket but shorter than a bucket header', () => {
    const image = buildBoltImage({ a: 'x' });
    const root = metaAt(image, 1).root.root;
    setU32(image, root * PS + 16, 1); // element 0's flags: bucket
    expect(boltErrorOf(() => walkAll(openImage(image))).message).toBe(`test.db: page ${root}: expected a bucket value of at least 16 bytes, found 1 bytes`);
  });

  it('a chain of branches deeper than any tree: stopped at the depth limit', () => {
    const ps = 512;
    const depth = 80;
    const image = new Uint8Array((depth + 3) * ps);
    for (let i = 0; i < depth; i++) {
      const page = image.subarray((2 + i) * ps, (3 + i) * ps);
      writePageHeader({ id: 2 + i, flags: PageFlag.branch, count: 1, overflow: 0 }, page);
      writeBranchElements([{ key: Uint8Array.of(1), child: 3 + i }], page);
    }
    const leaf = image.subarray((2 + depth) * ps);
    writePageHeader({ id: 2 + depth, flags: PageFlag.leaf, count: 1, overflow: 0 }, leaf);
    writeLeafElements([{ flags: 0, key: Uint8Array.of(1), value: Uint8Array.of(2) }], leaf);
    for (const p of [0, 1]) {
      const meta = image.subarray(p * ps, (p + 1) * ps);
      writePageHeader({ id: p, flags: PageFlag.meta, count: 0, overflow: 0 }, meta);
      const m = { magic: BOLT_MAGIC, version: BOLT_VERSION, pageSize: ps, flags: 0, root: { root: 2, sequence: 0n }, freelist: null, highWater: depth + 3 };
      writeMeta({ ...m, txid: BigInt(p) }, meta);
    }
    const db = openImage(image);
    expect(boltErrorOf(() => walkAll(db)).expected).toBe('a tree at most 64 levels deep');
    expect(boltErrorOf(() => db.root().get(Uint8Array.of(1))).expected).toBe('a tree at most 64 levels deep');
  });

  it('the root bucket is never inline: a meta saying root 0 is refused', () => {
    const image = buildBoltImage({ a: '1' });
    // Root 0 is also meta 0, at or below the high-water mark: only the reader's own check stops it.
    patchMeta(image, 1, { root: { root: 0, sequence: 0n } });
    patchMeta(image, 0, { root: { root: 0, sequence: 0n } });
    expect(boltErrorOf(() => openImage(image).root()).message).toBe('test.db: page 1: expected a root bucket with a root page, found root 0');
    expect(BoltBucket).toBeDefined();
  });

  it('gives one-line messages without stacks, naming the file', () => {
    const image = sample();
    patchHeader(image, childAt(image, manyRoot(image), 0), { flags: 0x55 });
    const e = boltErrorOf(() => walkAll(openImage(image, '/var/lib/containerd/meta.db')));
    expect(e.message).not.toContain('\n');
    expect(e.message.startsWith('/var/lib/containerd/meta.db: page ')).toBe(true);
    expect(e.name).toBe('BoltError');
    expect(e.file).toBe('/var/lib/containerd/meta.db');
  });

  it('finds the pages it damages where it expects them', () => {
    const image = sample();
    expect(pagesOf(image, PageFlag.branch)).toContain(manyRoot(image));
  });
});

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  setU64(b, 0, n);
  return b;
}

/** Offset of `needle` inside page `page` of the image. */
function findBytes(image: Uint8Array, needle: Uint8Array, page: number): number {
  for (let at = page * PS; at + needle.length <= (page + 1) * PS; at++) {
    if (needle.every((b, i) => image[at + i] === b)) return at;
  }
  throw new Error('not found');
}
