/**
 * The pack file's framing (src/pack/format.ts): the header and the chunk
 * header round-trip, and parse headers made by hand here from the layout
 * (DataView, not dmthin's writers); and the one instruction of vm.ts that
 * reads u64s back from bytes it emitted.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../../src/errors.js';
import { CHUNK_HEADER_SIZE, PACK_HEADER_SIZE, packU64, parseChunkHeader, parsePackHeader, writePackHeader } from '../../src/pack/format.js';
import { PackReader, PackVm } from '../../src/pack/vm.js';

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A header as the layout says, every field given. */
function header(magic: bigint, version: bigint, blockSize: bigint, blocks: bigint): Uint8Array {
  const b = new Uint8Array(32);
  dv(b).setBigUint64(0, magic, true);
  dv(b).setBigUint64(8, version, true);
  dv(b).setBigUint64(16, blockSize, true);
  dv(b).setBigUint64(24, blocks, true);
  return b;
}
const MAGIC = 0xa537a0aa6309ef77n;

describe('pack header', () => {
  it('round-trips the block count through write and parse', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 }), (n) => {
        const b = writePackHeader(n);
        expect(b.length).toBe(PACK_HEADER_SIZE);
        expect(parsePackHeader(b, 'p')).toBe(n);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a header made by hand from the layout, and writes the same bytes', () => {
    const b = header(MAGIC, 3n, 4096n, 5120n);
    expect(parsePackHeader(b, 'p')).toBe(5120);
    expect(writePackHeader(5120)).toEqual(b);
  });

  it('reads the header of a view into a larger buffer at its own offset', () => {
    const big = new Uint8Array(48);
    big.set(header(MAGIC, 3n, 4096n, 9n), 16);
    expect(parsePackHeader(big.subarray(16), 'p')).toBe(9);
  });

  it('refuses a short file, a wrong magic, version, block size or a block count past 2^32, naming the file', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(31), /^p\.pack is not a pack file \(too short\)$/],
      [header(MAGIC ^ 1n, 3n, 4096n, 1n), /^p\.pack is not a pack file \(bad magic\)$/],
      [header(MAGIC, 2n, 4096n, 1n), /^p\.pack: unsupported pack version 2 \(3 is known\)$/],
      [header(MAGIC, 3n, 8192n, 1n), /^p\.pack: block size is not 4096$/],
      [header(MAGIC, 3n, 4096n, 2n ** 32n + 1n), /^p\.pack: the header declares 4294967297 metadata blocks \(17179869188 KiB\), more than/],
    ];
    for (const [b, message] of cases) {
      expect(() => parsePackHeader(b, 'p.pack')).toThrow(UsageError);
      expect(() => parsePackHeader(b, 'p.pack')).toThrow(message);
    }
  });
});

describe('pack chunk header', () => {
  it('round-trips a chunk length through packU64 and parseChunkHeader', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 16 }), (len, at) => {
        const file = new Uint8Array(at + CHUNK_HEADER_SIZE + len);
        file.set(packU64(len), at);
        expect(parseChunkHeader(file, at, 'p')).toBe(len);
      }),
    );
  });

  it('reads a chunk length made by hand, and refuses one cut short or running past the end', () => {
    const file = new Uint8Array(40 + 8 + 3);
    dv(file).setBigUint64(40, 3n, true);
    expect(parseChunkHeader(file, 40, 'p')).toBe(3);
    expect(() => parseChunkHeader(file.subarray(0, 44), 40, 'p')).toThrow(/^p: truncated chunk header at byte 40$/);
    dv(file).setBigUint64(40, 2n ** 63n, true);
    expect(() => parseChunkHeader(file, 40, 'p')).toThrow(/^p: chunk at byte 40 runs past the end of the file$/);
  });
});

describe('pack instructions', () => {
  it('ShiftedRun joins each high u64 shifted by 24 with the low 24 bits of its low u64', () => {
    // ShiftedRun of 2: high = Set(1 byte) 5, Pos 1 -> 5, 6; low = Set(4 bytes) 0x01000007, Pos 2 -> 0x01000007, 0x01000009.
    const code = Uint8Array.from([0xb0, 0x02, 0x01, 0x05, 0x11, 0x04, 0x07, 0x00, 0x00, 0x01, 0x12]);
    const out = new PackVm().exec(new PackReader(code), 16);
    expect(dv(out).getBigUint64(0, true)).toBe((5n << 24n) | 7n);
    expect(dv(out).getBigUint64(8, true)).toBe((6n << 24n) | 9n);
  });
});
