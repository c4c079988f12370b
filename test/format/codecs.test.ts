import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ENTRIES_PER_BITMAP, bitmapEntry, newBitmap, sealBitmap, setBitmapEntry, validateBitmap } from '../../src/format/bitmap.js';
import { blockOf, timeOf, writeBlockTime } from '../../src/format/block-time.js';
import {
  INTERNAL_NODE,
  LEAF_NODE,
  keyAt,
  maxEntriesFor,
  newNode,
  parseNodeHeader,
  sealNode,
  setKeyAt,
  validateNode,
  writeNodeHeader,
} from '../../src/format/btree-node.js';
import CRC32C from 'crc-32/crc32c.js';
import { BLOCK_SIZE, Salt, classifyBlock, computeChecksum, stampChecksum, storedChecksum } from '../../src/format/checksum.js';
import { parseDeviceDetails, writeDeviceDetails } from '../../src/format/device-details.js';
import { BlockNumberError, ChecksumError, FieldError } from '../../src/format/errors.js';
import { parseIndexEntry, parseMetadataIndex, writeIndexEntry, writeMetadataIndex } from '../../src/format/index-entry.js';
import { parseSpaceMapRoot, writeSpaceMapRoot } from '../../src/format/space-map-root.js';
import { type Superblock, hasSuperblockMagic, parseSuperblock, validateSuperblock, writeSuperblock } from '../../src/format/superblock.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u52 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
/** Transaction ids: any u64, every bit kept. */
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const smRoot = fc.record({ nrBlocks: u52, nrAllocated: u52, bitmapRoot: u52, refCountRoot: u52 });

describe('checksums', () => {
  it('is standard CRC32C (check value of "123456789" is 0xe3069283)', () => {
    expect(CRC32C.buf(Buffer.from('123456789')) >>> 0).toBe(0xe3069283);
  });

  it('stores crc32c(bytes 4..4096) xor 0xffffffff xor salt', () => {
    const b = new Uint8Array(BLOCK_SIZE).fill(7);
    expect(computeChecksum(b, Salt.bitmap)).toBe((CRC32C.buf(b.subarray(4)) ^ 0xffffffff ^ 240779) >>> 0);
    b.fill(0);
    stampChecksum(b, Salt.btreeNode);
    expect(classifyBlock(b)).toBe('btreeNode');
    b[100] = 1;
    expect(classifyBlock(b)).toBeUndefined();
  });

  it('tells each kind of block by its salt', () => {
    for (const kind of Object.keys(Salt) as Array<keyof typeof Salt>) {
      const b = new Uint8Array(BLOCK_SIZE).fill(0x5a);
      stampChecksum(b, Salt[kind]);
      expect(classifyBlock(b)).toBe(kind);
      expect(computeChecksum(b, Salt[kind])).toBe(storedChecksum(b));
    }
  });
});

describe('superblock', () => {
  const arb = fc.record({
    flags: u32,
    uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    version: fc.integer({ min: 1, max: 2 }),
    time: u32,
    transactionId: u64,
    heldRoot: u52,
    dataSpaceMapRoot: smRoot,
    metadataSpaceMapRoot: smRoot,
    mappingRoot: u52,
    detailsRoot: u52,
    dataBlockSize: u32,
    metadataNrBlocks: u52,
    compatFlags: u32,
    compatRoFlags: u32,
    incompatFlags: u32,
  });

  it('round-trips every field through write and parse', () => {
    fc.assert(
      fc.property(arb, (f) => {
        const sb: Superblock = { ...f, csum: 0, blocknr: 0, magic: 27022010, metadataBlockSize: 8 };
        const b = writeSuperblock(sb);
        const back = validateSuperblock(b);
        expect({ ...back, csum: 0 }).toEqual({ ...sb, csum: 0 });
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a flipped byte, a wrong location and a wrong magic, naming the block', () => {
    const sb = parseSuperblock(new Uint8Array(BLOCK_SIZE));
    const good = writeSuperblock({ ...sb, magic: 27022010, metadataBlockSize: 8 });
    const flipped = good.slice();
    flipped[300] ^= 1;
    expect(() => validateSuperblock(flipped)).toThrow(ChecksumError);
    expect(() => validateSuperblock(flipped)).toThrow(/^block 0: bad superblock checksum/);
    expect(() => validateSuperblock(good, 7)).toThrow(BlockNumberError);
    const magic = writeSuperblock({ ...sb, magic: 1, metadataBlockSize: 8 });
    expect(() => validateSuperblock(magic)).toThrow(FieldError);
  });

  it('tells the superblock magic (u32 27022010 at byte 32, zeros after) in a block seen at an offset into a larger buffer', () => {
    const big = new Uint8Array(3 * BLOCK_SIZE);
    const block = big.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE);
    new DataView(block.buffer, block.byteOffset).setUint32(32, 27022010, true);
    expect(hasSuperblockMagic(block)).toBe(true);
    expect(hasSuperblockMagic(big.subarray(0, BLOCK_SIZE))).toBe(false);
    block[39] = 1;
    expect(hasSuperblockMagic(block)).toBe(false);
  });

  it('puts fields at the kernel offsets', () => {
    const sb = parseSuperblock(new Uint8Array(BLOCK_SIZE));
    const b = writeSuperblock({
      ...sb,
      magic: 27022010,
      time: 0x01020304,
      transactionId: 7n,
      heldRoot: 457,
      mappingRoot: 501,
      detailsRoot: 510,
      dataBlockSize: 256,
      metadataBlockSize: 8,
      metadataNrBlocks: 4096,
    });
    const dv = new DataView(b.buffer);
    expect(dv.getBigUint64(32, true)).toBe(27022010n);
    expect(dv.getUint32(44, true)).toBe(0x01020304);
    expect(dv.getBigUint64(48, true)).toBe(7n);
    expect(dv.getBigUint64(56, true)).toBe(457n);
    expect(dv.getBigUint64(320, true)).toBe(501n);
    expect(dv.getBigUint64(328, true)).toBe(510n);
    expect(dv.getUint32(336, true)).toBe(256);
    expect(dv.getUint32(340, true)).toBe(8);
    expect(dv.getBigUint64(344, true)).toBe(4096n);
  });
});

describe('btree node', () => {
  it('has the kernel max_entries for each value size', () => {
    expect(maxEntriesFor(8)).toBe(252);
    expect(maxEntriesFor(24)).toBe(126);
    expect(maxEntriesFor(16)).toBe(168);
    expect(maxEntriesFor(4)).toBe(336);
  });

  it('round-trips header and keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 252 }), u52, fc.boolean(), (n, loc, leaf) => {
        const b = newNode(leaf ? LEAF_NODE : INTERNAL_NODE, loc, 8, n);
        for (let i = 0; i < n; i++) setKeyAt(b, i, i * 1000 + 3);
        sealNode(b);
        const h = validateNode(b, loc, 8);
        expect(h).toMatchObject({ flags: leaf ? 2 : 1, blocknr: loc, nrEntries: n, maxEntries: 252, valueSize: 8 });
        for (let i = 0; i < n; i++) expect(keyAt(b, i)).toBe(i * 1000 + 3);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects nr_entries > max_entries, bad value_size, bad flags and bad blocknr', () => {
    const mk = (mut: (b: Uint8Array) => void): Uint8Array => {
      const b = newNode(LEAF_NODE, 9, 8, 3);
      mut(b);
      sealNode(b);
      return b;
    };
    expect(() =>
      validateNode(
        mk((b) => writeNodeHeader({ ...parseNodeHeader(b), nrEntries: 253 }, b)),
        9,
        8,
      ),
    ).toThrow(/nr_entries: 253 > max_entries 252/);
    expect(() =>
      validateNode(
        mk(() => {}),
        9,
        24,
      ),
    ).toThrow(/value_size: 8, expected 24/);
    // An internal node's value_size is not judged: its u64 children are read 8 bytes apart (the kernel's value64()).
    const internal = newNode(INTERNAL_NODE, 9, 8, 3);
    writeNodeHeader({ ...parseNodeHeader(internal), valueSize: 7 }, internal);
    sealNode(internal);
    expect(validateNode(internal, 9, 24).valueSize).toBe(7);
    expect(() =>
      validateNode(
        mk((b) => writeNodeHeader({ ...parseNodeHeader(b), flags: 3 }, b)),
        9,
        8,
      ),
    ).toThrow(/flags/);
    expect(() =>
      validateNode(
        mk(() => {}),
        10,
        8,
      ),
    ).toThrow(BlockNumberError);
    const bad = mk(() => {});
    bad[40] ^= 0xff;
    expect(() => validateNode(bad, 9, 8)).toThrow(/^block 9: bad btree node checksum/);
  });
});

describe('values', () => {
  it('block_time packs a 40-bit block above a 24-bit time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), fc.integer({ min: 0, max: 2 ** 24 - 1 }), (blk, t) => {
        const b = new Uint8Array(8);
        writeBlockTime(b, 0, blk, t);
        expect(blockOf(b, 0)).toBe(blk);
        expect(timeOf(b, 0)).toBe(t);
        const v = new DataView(b.buffer).getBigUint64(0, true);
        expect(v).toBe((BigInt(blk) << 24n) | BigInt(t));
      }),
    );
  });

  it('device details round-trip', () => {
    fc.assert(
      fc.property(fc.record({ mappedBlocks: u52, transactionId: u64, creationTime: u32, snapshottedTime: u32 }), (d) => {
        const b = new Uint8Array(24);
        writeDeviceDetails(d, b);
        expect(parseDeviceDetails(b)).toEqual(d);
      }),
    );
  });

  it('space map root round-trips', () => {
    fc.assert(
      fc.property(smRoot, (r) => {
        const b = new Uint8Array(128);
        writeSpaceMapRoot(r, b);
        expect(parseSpaceMapRoot(b)).toEqual(r);
      }),
    );
  });

  it('index entries and the metadata index block round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ blocknr: u52, nrFree: u32, noneFreeBefore: u32 }), { minLength: 1, maxLength: 255 }), (es) => {
        const one = new Uint8Array(16);
        writeIndexEntry(es[0], one);
        expect(parseIndexEntry(one)).toEqual(es[0]);
        const blk = writeMetadataIndex(es, 33);
        expect(parseMetadataIndex(blk, 33, es.length)).toEqual(es);
        expect(classifyBlock(blk)).toBe('index');
      }),
      { numRuns: 50 },
    );
  });
});

describe('bitmap', () => {
  it('holds 16320 two-bit entries with the high bit first in each pair', () => {
    expect(ENTRIES_PER_BITMAP).toBe(16320);
    const b = newBitmap(5);
    setBitmapEntry(b, 0, 1); // low bit -> bit 1 of byte 16
    setBitmapEntry(b, 1, 2); // high bit -> bit 2 of byte 16
    setBitmapEntry(b, 16319, 3);
    expect(b[16]).toBe(0b0000_0110);
    expect(b[4095]).toBe(0b1100_0000);
    expect([bitmapEntry(b, 0), bitmapEntry(b, 1), bitmapEntry(b, 2), bitmapEntry(b, 16319)]).toEqual([1, 2, 0, 3]);
    sealBitmap(b);
    expect(() => validateBitmap(b, 5)).not.toThrow();
    expect(() => validateBitmap(b, 6)).toThrow(BlockNumberError);
  });

  it('round-trips random entries', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 16319 }), fc.integer({ min: 0, max: 3 })), { maxLength: 200 }), (sets) => {
        const b = newBitmap(1);
        const want = new Map<number, number>();
        for (const [i, v] of sets) {
          setBitmapEntry(b, i, v);
          want.set(i, v);
        }
        for (const [i, v] of want) expect(bitmapEntry(b, i)).toBe(v);
      }),
    );
  });
});
