import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUCKET_HEADER_SIZE, parseBucketHeader, writeBucketHeader } from '../../../src/format/bbolt/bucket-header.js';
import {
  BUCKET_LEAF_FLAG,
  branchPageBytes,
  leafPageBytes,
  maxElements,
  parseBranchElements,
  parseLeafElements,
  writeBranchElements,
  writeLeafElements,
} from '../../../src/format/bbolt/elements.js';
import { BoltError } from '../../../src/format/bbolt/errors.js';
import { fnv1a64 } from '../../../src/format/bbolt/fnv.js';
import { FREELIST_COUNT_IN_DATA, freelistBytes, parseFreelist, writeFreelist } from '../../../src/format/bbolt/freelist.js';
import { BOLT_MAGIC, BOLT_VERSION, type Meta, computeMetaChecksum, metaProblem, parseMeta, writeMeta } from '../../../src/format/bbolt/meta.js';
import { PAGE_HEADER_SIZE, PageFlag, describeFlags, parsePageHeader, writePageHeader } from '../../../src/format/bbolt/page.js';
import { getU32, getU64 } from '../../../src/format/le.js';
import { boltErrorOf } from './helpers.js';

const where = { file: 'f.db', page: 7 };
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u52 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const key = fc.uint8Array({ minLength: 1, maxLength: 40 });

describe('page header', () => {
  it('round-trips id, flags, count and overflow at offsets 0, 8, 10, 12', () => {
    fc.assert(
      fc.property(fc.record({ id: u52, flags: u16, count: u16, overflow: u32 }), (h) => {
        const b = new Uint8Array(PAGE_HEADER_SIZE);
        writePageHeader(h, b);
        expect(parsePageHeader(b, where)).toEqual(h);
        expect(getU64(b, 0)).toBe(h.id);
        expect(b[8] | (b[9] << 8)).toBe(h.flags);
        expect(getU32(b, 12)).toBe(h.overflow);
      }),
    );
  });

  it('refuses fewer than 16 bytes with the page named', () => {
    expect(boltErrorOf(() => parsePageHeader(new Uint8Array(15), where)).message).toBe('f.db: page 7: expected a 16-byte page header, found 15 bytes');
  });

  it('names each kind, and flags that are no kind (bbolt compares with ==, so mixed bits are none)', () => {
    expect(describeFlags(PageFlag.freelist)).toBe('flags 0x10 (freelist)');
    expect(describeFlags(PageFlag.leaf)).toBe('flags 0x2 (leaf)');
    expect(describeFlags(PageFlag.leaf | PageFlag.branch)).toBe('flags 0x3');
  });
});

describe('FNV-1a 64', () => {
  it('gives the published test vectors (Go hash/fnv New64a)', () => {
    const enc = new TextEncoder();
    expect(fnv1a64(new Uint8Array(0))).toBe(0xcbf29ce484222325n);
    expect(fnv1a64(enc.encode('a'))).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64(enc.encode('foobar'))).toBe(0x85944171f73967e8n);
  });
});

describe('meta', () => {
  const meta = (m: Partial<Meta> = {}): Meta => ({
    magic: BOLT_MAGIC,
    version: BOLT_VERSION,
    pageSize: 4096,
    flags: 0,
    root: { root: 3, sequence: 0n },
    freelist: 2,
    highWater: 4,
    txid: 1n,
    checksum: 0n,
    ...m,
  });

  it('round-trips every field, stamps the checksum over bytes 16..72 and keeps u64s whole', () => {
    fc.assert(
      fc.property(fc.record({ pageSize: u32, flags: u32, root: u52, sequence: u64, freelist: fc.option(u52), highWater: u52, txid: u64 }), (r) => {
        const page = new Uint8Array(4096);
        const m = meta({
          pageSize: r.pageSize,
          flags: r.flags,
          root: { root: r.root, sequence: r.sequence },
          freelist: r.freelist,
          highWater: r.highWater,
          txid: r.txid,
        });
        writeMeta(m, page);
        const back = parseMeta(page, where);
        expect(back).toEqual({ ...m, checksum: fnv1a64(page.subarray(16, 72)) });
        expect(computeMetaChecksum(page)).toBe(back.checksum);
      }),
    );
  });

  it('stores "no freelist" as all ones (bbolt PgidNoFreelist)', () => {
    const page = new Uint8Array(80);
    writeMeta(meta({ freelist: null }), page);
    expect([...page.subarray(48, 56)]).toEqual(Array(8).fill(0xff));
    expect(parseMeta(page, where).freelist).toBeNull();
  });

  it('judges magic, version and checksum in bbolt order, then root, freelist and page size', () => {
    const judged = (m: Meta, filePageSize?: number, damage?: (p: Uint8Array) => void): string | undefined => {
      const page = new Uint8Array(80);
      writeMeta(m, page);
      damage?.(page);
      return metaProblem(page, parseMeta(page, where), filePageSize);
    };
    expect(judged(meta())).toBeUndefined();
    expect(judged(meta({ magic: 1 }))).toBe('magic 0x1 (expected 0xed0cdaed)');
    expect(judged(meta({ version: 1 }))).toBe('version 1 (expected 2)');
    expect(judged(meta(), undefined, (p) => p[70]++)).toMatch(/^checksum 0x[0-9a-f]+ \(computed 0x[0-9a-f]+\)$/);
    expect(judged(meta({ root: { root: 4, sequence: 0n } }))).toBe('root page 4 (at or above the high-water mark 4)');
    expect(judged(meta({ freelist: 9 }))).toBe('freelist page 9 (at or above the high-water mark 4)');
    expect(judged(meta(), 8192)).toBe("page size 4096 (the file's is 8192)");
  });
});

describe('bucket header', () => {
  it('round-trips root and the whole u64 sequence', () => {
    fc.assert(
      fc.property(u52, u64, (root, sequence) => {
        const b = new Uint8Array(BUCKET_HEADER_SIZE);
        writeBucketHeader({ root, sequence }, b);
        expect(parseBucketHeader(b, where)).toEqual({ root, sequence });
      }),
    );
  });

  it('refuses a value shorter than the header', () => {
    expect(boltErrorOf(() => parseBucketHeader(new Uint8Array(3), where)).message).toBe(
      'f.db: page 7: expected a bucket value of at least 16 bytes, found 3 bytes',
    );
  });
});

describe('elements', () => {
  it('round-trips leaf elements: flags, keys, values, data packed after the array', () => {
    const leaf = fc.array(fc.record({ flags: fc.constantFrom(0, BUCKET_LEAF_FLAG), key, value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 40 });
    fc.assert(
      fc.property(leaf, (elements) => {
        const page = new Uint8Array(leafPageBytes(elements));
        writeLeafElements(elements, page);
        expect(parseLeafElements(page, elements.length, where)).toEqual(elements);
      }),
    );
  });

  it('round-trips branch elements: keys and child pages', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key, child: u52 }), { maxLength: 40 }), (elements) => {
        const page = new Uint8Array(branchPageBytes(elements));
        writeBranchElements(elements, page);
        expect(parseBranchElements(page, elements.length, where)).toEqual(elements);
      }),
    );
  });

  it("counts pos from the element's own start, as bbolt's Key() does", () => {
    const page = new Uint8Array(128);
    writeLeafElements(
      [
        { flags: 0, key: Uint8Array.of(1), value: Uint8Array.of(2, 3) },
        { flags: 1, key: Uint8Array.of(4), value: Uint8Array.of(5) },
      ],
      page,
    );
    // Data starts at 16 + 2 * 16 = 48: element 0 (at 16) says 32, element 1 (at 32) says 19 (48 + 3 - 32).
    expect(getU32(page, 16 + 4)).toBe(32);
    expect(getU32(page, 32 + 4)).toBe(19);
    expect(getU32(page, 32)).toBe(1);
  });

  it('refuses a key or value outside the page, and a count the page cannot hold, naming the page', () => {
    const page = new Uint8Array(64);
    writeLeafElements([{ flags: 0, key: Uint8Array.of(1), value: Uint8Array.of(2) }], page);
    page[16 + 12] = 200; // vsize
    expect(boltErrorOf(() => parseLeafElements(page, 1, where)).message).toBe(
      "f.db: page 7: expected element 0's value inside the page's 64 bytes, found bytes 33..233",
    );
    expect(boltErrorOf(() => parseLeafElements(page, 4, where)).message).toBe('f.db: page 7: expected at most 3 elements in 64 bytes, found count 4');
    expect(boltErrorOf(() => parseBranchElements(page, 4, where)).message).toBe('f.db: page 7: expected at most 3 elements in 64 bytes, found count 4');
    expect(maxElements(4096)).toBe(255);
  });
});

describe('freelist', () => {
  it('round-trips ids, with the count in the header below 0xFFFF', () => {
    fc.assert(
      fc.property(fc.array(u52, { maxLength: 600 }), (ids) => {
        const page = new Uint8Array(freelistBytes(ids.length));
        const count = writeFreelist(ids, page);
        expect(count).toBe(ids.length);
        expect(parseFreelist(page, count, where)).toEqual(ids);
      }),
    );
  });

  it('puts a count of 0xFFFF or more in the first u64 of the data and 0xFFFF in the header', () => {
    const ids = Array.from({ length: FREELIST_COUNT_IN_DATA + 3 }, (_, i) => i + 2);
    const page = new Uint8Array(freelistBytes(ids.length));
    expect(page.length).toBe(16 + 8 * (ids.length + 1));
    expect(writeFreelist(ids, page)).toBe(0xffff);
    expect(getU64(page, 16)).toBe(ids.length);
    expect(parseFreelist(page, 0xffff, where)).toEqual(ids);
  });

  it('refuses a count the page cannot hold before allocating for it', () => {
    const page = new Uint8Array(4096);
    expect(boltErrorOf(() => parseFreelist(page, 600, where)).message).toBe('f.db: page 7: expected at most 510 free page ids in 4096 bytes, found count 600');
    page[16] = 0xff;
    page[22] = 0xff; // a count of about 2^55 in the data
    expect(boltErrorOf(() => parseFreelist(page, 0xffff, where))).toBeInstanceOf(BoltError);
  });
});
