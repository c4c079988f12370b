/**
 * The stream format's codecs (src/stream/format.ts): each part's write and
 * parse round-trip, and each parser reads a part made by hand here from
 * the layout in docs/stream.md (DataView and zlib's crc32, not dmthin's
 * writers) into the fields the layout says.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32 as zcrc32 } from 'node:zlib';
import {
  D_HEAD,
  E_SIZE,
  HEADER_SIZE,
  NO_BASE,
  type StreamHeader,
  Z_SIZE,
  chain,
  dataHead,
  endRecord,
  parseDataHead,
  parseEndRecord,
  parseHeader,
  parseZeroRecord,
  sealData,
  storedCrc,
  writeHeader,
  zeroRecord,
} from '../../src/stream/format.js';
import { StreamError } from '../../src/stream/errors.js';

const crc = (b: Uint8Array, seed = 0): number => zcrc32(b, seed) >>> 0;
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u52 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const id32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes32 = (x: number): Uint8Array => new Uint8Array(32).fill(x);

describe('stream header', () => {
  const header = fc
    .record({
      incremental: fc.boolean(),
      blockSize: fc.integer({ min: 1, max: 16384 }).map((k) => k * 65536),
      blocks: fc.integer({ min: 0, max: 2 ** 20 }),
      pool: id32,
      deviceId: fc.integer({ min: 0, max: 0xfffffffe }),
      baseDeviceId: fc.integer({ min: 0, max: 0xfffffffe }),
      identity: id32,
      baseIdentity: id32.filter((b) => b.some((x) => x !== 0)),
    })
    .map(
      (h): StreamHeader => ({
        incremental: h.incremental,
        blockSize: h.blockSize,
        virtualSize: h.blocks * h.blockSize,
        pool: h.pool,
        deviceId: h.deviceId,
        baseDeviceId: h.incremental ? h.baseDeviceId : NO_BASE,
        identity: h.identity,
        baseIdentity: h.incremental ? h.baseIdentity : new Uint8Array(32),
      }),
    );

  it('round-trips every field of a full and an incremental header through write and parse', () => {
    fc.assert(
      fc.property(header, (h) => {
        const b = writeHeader(h);
        expect(b.length).toBe(HEADER_SIZE);
        expect(parseHeader(b, 's')).toEqual(h);
        expect(storedCrc(b)).toBe(crc(b.subarray(0, 252)));
      }),
      { numRuns: 200 },
    );
  });

  it('reads a header made by hand from the layout into its fields', () => {
    const b = new Uint8Array(HEADER_SIZE);
    b.set(Buffer.from('dmthin-stream\0\0\0', 'latin1'), 0);
    const v = dv(b);
    v.setUint32(16, 1, true);
    v.setUint32(20, 1, true);
    v.setUint32(24, 128 * 1024, true);
    v.setBigUint64(32, 3n * 2n ** 40n, true);
    b.set(bytes32(0xa1), 40);
    v.setUint32(72, 7, true);
    v.setUint32(76, 3, true);
    b.set(bytes32(0xb2), 80);
    b.set(bytes32(0xc3), 112);
    v.setUint32(252, crc(b.subarray(0, 252)), true);
    expect(parseHeader(b, 's')).toEqual({
      incremental: true,
      blockSize: 128 * 1024,
      virtualSize: 3 * 2 ** 40,
      pool: bytes32(0xa1),
      deviceId: 7,
      baseDeviceId: 3,
      identity: bytes32(0xb2),
      baseIdentity: bytes32(0xc3),
    });
    expect(storedCrc(b)).toBe(v.getUint32(252, true));
  });

  it('refuses a header whose field it checks, naming the stream, the byte and the field', () => {
    const good = writeHeader({
      incremental: false,
      blockSize: 65536,
      virtualSize: 65536 * 4,
      pool: bytes32(1),
      deviceId: 1,
      baseDeviceId: NO_BASE,
      identity: bytes32(2),
      baseIdentity: new Uint8Array(32),
    });
    const bad = good.slice();
    dv(bad).setUint32(28, 1, true);
    dv(bad).setUint32(252, crc(bad.subarray(0, 252)), true);
    expect(() => parseHeader(bad, 'x.stream')).toThrow(StreamError);
    expect(() => parseHeader(bad, 'x.stream')).toThrow(/^x\.stream, byte 28: header field reserved \(bytes 28\.\.31\) is not zero$/);
  });
});

describe('stream records', () => {
  it('round-trips a D record head, and seals its data with the CRC of every byte before it', () => {
    fc.assert(
      fc.property(u52, u32, fc.uint8Array({ minLength: 0, maxLength: 64 }), (first, count, data) => {
        const head = dataHead(first, count);
        expect(head.length).toBe(D_HEAD);
        expect(parseDataHead(head)).toEqual({ first: BigInt(first), count });
        const rec = new Uint8Array(D_HEAD + data.length + 4);
        rec.set(head, 0);
        rec.set(data, D_HEAD);
        const sealed = sealData(rec, data.length);
        expect(sealed).toBe(crc(rec.subarray(0, D_HEAD + data.length)));
        expect(storedCrc(rec)).toBe(sealed);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a D record made by hand from the layout, a first block past 2^53 kept exact', () => {
    const rec = new Uint8Array(D_HEAD + 8 + 4);
    rec[0] = 0x44;
    dv(rec).setBigUint64(1, 2n ** 60n + 1n, true);
    dv(rec).setUint32(9, 2, true);
    rec.fill(0x77, D_HEAD, D_HEAD + 8);
    dv(rec).setUint32(D_HEAD + 8, crc(rec.subarray(0, D_HEAD + 8)), true);
    expect(parseDataHead(rec.subarray(0, D_HEAD))).toEqual({ first: 2n ** 60n + 1n, count: 2 });
    expect(storedCrc(rec)).toBe(crc(rec.subarray(0, D_HEAD + 8)));
    expect(storedCrc(rec.subarray(D_HEAD + 8))).toBe(storedCrc(rec));
  });

  it('round-trips a Z record through write and parse, its CRC stored as computed', () => {
    fc.assert(
      fc.property(u52, u52, (first, count) => {
        const z = zeroRecord(first, count);
        expect(z.length).toBe(Z_SIZE);
        const c = crc(z.subarray(0, 17));
        expect(parseZeroRecord(z)).toEqual({ first: BigInt(first), count: BigInt(count), storedCrc: c, computedCrc: c });
        expect(storedCrc(z)).toBe(c);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a Z record made by hand from the layout; a changed byte leaves stored and computed CRC apart', () => {
    const z = new Uint8Array(Z_SIZE);
    z[0] = 0x5a;
    dv(z).setBigUint64(1, 5n, true);
    dv(z).setBigUint64(9, 2n ** 64n - 1n, true);
    dv(z).setUint32(17, crc(z.subarray(0, 17)), true);
    const c = crc(z.subarray(0, 17));
    expect(parseZeroRecord(z)).toEqual({ first: 5n, count: 2n ** 64n - 1n, storedCrc: c, computedCrc: c });
    z[3] ^= 1;
    const damaged = parseZeroRecord(z);
    expect(damaged.first).toBe(5n + (1n << 16n));
    expect(damaged.storedCrc).toBe(c);
    expect(damaged.computedCrc).not.toBe(c);
  });

  it('round-trips an E record through write and parse', () => {
    fc.assert(
      fc.property(u52, u52, u52, u32, (dataBlocks, zeroBlocks, records, sum) => {
        const e = endRecord({ dataBlocks, zeroBlocks, records }, sum);
        expect(e.length).toBe(E_SIZE);
        const c = crc(e.subarray(0, 29));
        expect(parseEndRecord(e)).toEqual({
          dataBlocks: BigInt(dataBlocks),
          zeroBlocks: BigInt(zeroBlocks),
          records: BigInt(records),
          streamChecksum: sum,
          storedCrc: c,
          computedCrc: c,
        });
      }),
      { numRuns: 200 },
    );
  });

  it('reads an E record made by hand from the layout into its totals and checksums', () => {
    const e = new Uint8Array(E_SIZE);
    e[0] = 0x45;
    dv(e).setBigUint64(1, 10n, true);
    dv(e).setBigUint64(9, 2n ** 63n, true);
    dv(e).setBigUint64(17, 4n, true);
    dv(e).setUint32(25, 0xdeadbeef, true);
    dv(e).setUint32(29, 0x12345678, true);
    expect(parseEndRecord(e)).toEqual({
      dataBlocks: 10n,
      zeroBlocks: 2n ** 63n,
      records: 4n,
      streamChecksum: 0xdeadbeef,
      storedCrc: 0x12345678,
      computedCrc: crc(e.subarray(0, 29)),
    });
  });

  it('chains a part CRC into the stream checksum as the CRC-32 of its 4 little-endian bytes', () => {
    fc.assert(
      fc.property(u32, u32, (sum, part) => {
        const b = new Uint8Array(4);
        dv(b).setUint32(0, part, true);
        expect(chain(sum, part)).toBe(crc(b, sum));
      }),
    );
  });
});
