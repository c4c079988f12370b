/**
 * The dmthin stream format, version 1 (docs/stream.md): a header, records
 * of changed blocks (D) and unmapped runs (Z), and an end record (E) with
 * totals and the stream checksum: the CRC-32 of the header's and every
 * record's CRC in order. Every part carries the CRC-32 (IEEE, zlib's) of
 * its own bytes, in its last 4 bytes: native, so checking keeps up with
 * the disk. Every field is little-endian, read and written through
 * format/le.ts as every other codec of dmthin's.
 *
 * Each part's write and parse sit side by side here, and nothing else in
 * dmthin reads or writes a field of a part. The parsers of records check
 * nothing but return every field and both CRCs (stored, computed): the
 * walk (walk.ts) knows the record's number and byte offset and the totals
 * so far, and turns a field it refuses into a StreamError naming them.
 * Fields that a damaged stream can push past 2^53 come back as bigints.
 */
import { lazyZlib } from '../builtins.js';
import { getU32, getU64Big, setU32, setU64Big } from '../format/le.js';
import { validDataBlockSize } from '../format/superblock.js';
import { StreamError } from './errors.js';

export const HEADER_SIZE = 256;
export const MAGIC = 'dmthin-stream\0\0\0';
/** What a file that does not begin with MAGIC is, whatever its length. */
export const NOT_A_STREAM = 'not a dmthin stream (no magic)';
export const VERSION = 1;
export const FLAG_INCREMENTAL = 1;
export const NO_BASE = 0xffffffff;
export const RECORD = { data: 0x44, zero: 0x5a, end: 0x45 } as const;
/** Data in one D record at most (or one block, when blocks are larger): small enough to stay in the CPU's cache between read, checksum and write. */
export const MAX_RECORD_BYTES = 1 << 20;
/** Bytes of a D record before its data, of a Z record, of an E record: CRCs included. */
export const D_HEAD = 1 + 8 + 4;
export const Z_SIZE = 1 + 8 + 8 + 4;
export const E_SIZE = 1 + 8 + 8 + 8 + 4 + 4;
/** Bytes of a CRC-32, the last field of every part. */
export const CRC_SIZE = 4;

/** CRC-32 (IEEE), chained through `seed`. */
export const crc32 = (b: Uint8Array, seed = 0): number => lazyZlib().crc32(b, seed) >>> 0;

/** The stream checksum: folds each part's CRC, in order, into one. */
export function chain(sum: number, partCrc: number): number {
  const b = new Uint8Array(CRC_SIZE);
  setU32(b, 0, partCrc);
  return crc32(b, sum);
}

/** The CRC a whole part (header, Z or E record, or a D record with its data) stores in its last 4 bytes. */
export const storedCrc = (part: Uint8Array): number => getU32(part, part.length - CRC_SIZE);

/**
 * Header, 256 bytes:
 * ```
 * offset size field
 *      0   16 magic "dmthin-stream\0\0\0"
 *     16    4 version: 1
 *     20    4 flags: bit 0 incremental (a base is named); no other bit
 *     24    4 block size, bytes: the pool's data block size
 *     28    4 reserved, 0
 *     32    8 virtual size, bytes: the device's size, whole blocks, < 2^53
 *     40   32 pool identity (identity.ts)
 *     72    4 new snapshot's device id
 *     76    4 base's device id; 0xffffffff: none (a full stream)
 *     80   32 new snapshot's identity (identity.ts)
 *    112   32 base's identity; zeros: none (a full stream)
 *    144  108 reserved, zeros
 *    252    4 CRC-32 of bytes [0, 252)
 * ```
 */
export interface StreamHeader {
  incremental: boolean;
  blockSize: number;
  virtualSize: number;
  pool: Uint8Array;
  deviceId: number;
  baseDeviceId: number;
  identity: Uint8Array;
  baseIdentity: Uint8Array;
}

export function writeHeader(h: StreamHeader): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  b.set(Buffer.from(MAGIC, 'latin1'), 0);
  setU32(b, 16, VERSION);
  setU32(b, 20, h.incremental ? FLAG_INCREMENTAL : 0);
  setU32(b, 24, h.blockSize);
  setU64Big(b, 32, BigInt(h.virtualSize));
  b.set(h.pool.subarray(0, 32), 40);
  setU32(b, 72, h.deviceId);
  setU32(b, 76, h.baseDeviceId);
  b.set(h.identity.subarray(0, 32), 80);
  b.set(h.baseIdentity.subarray(0, 32), 112);
  setU32(b, 252, crc32(b.subarray(0, 252)));
  return b;
}

/** The largest virtual size dmthin addresses: byte offsets are JavaScript numbers, exact up to 2^53. */
export const MAX_VIRTUAL_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * The header at the start of `b`, every field checked against what a
 * version 1 writer puts there; `where` names the stream in messages, which
 * say the field, its byte offset and what was expected.
 */
export function parseHeader(b: Uint8Array, where: string): StreamHeader {
  if (b.length < HEADER_SIZE) throw new StreamError(where, 0, `a stream header is ${HEADER_SIZE} bytes; only ${b.length} came`);
  const field = (at: number, what: string): StreamError => new StreamError(where, at, `header field ${what}`);
  if (Buffer.from(b.subarray(0, 16)).toString('latin1') !== MAGIC) throw new StreamError(where, 0, NOT_A_STREAM);
  const stored = getU32(b, 252);
  const crc = crc32(b.subarray(0, 252));
  if (stored !== crc) throw new StreamError(where, 0, `header checksum: stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}`);
  const version = getU32(b, 16);
  if (version !== VERSION) throw new StreamError(where, 16, `stream format version ${version} (this dmthin reads ${VERSION})`);
  const flags = getU32(b, 20);
  if ((flags & ~FLAG_INCREMENTAL) !== 0) throw field(20, `flags is 0x${flags.toString(16)}: only bit 0 (incremental) is defined`);
  const blockSize = getU32(b, 24);
  if (blockSize % 512 !== 0 || !validDataBlockSize(blockSize / 512)) {
    throw field(24, `block size is ${blockSize} bytes: expected a pool's data block size, a multiple of 64 KiB from 64 KiB to 1 GiB`);
  }
  if (getU32(b, 28) !== 0) throw field(28, 'reserved (bytes 28..31) is not zero');
  const size = getU64Big(b, 32);
  if (size > BigInt(MAX_VIRTUAL_SIZE)) throw field(32, `virtual size ${size} bytes: expected at most 2^53 - 1 (9 PiB)`);
  if (size % BigInt(blockSize) !== 0n) throw field(32, `virtual size ${size} bytes: expected a multiple of the block size (${blockSize})`);
  const incremental = (flags & FLAG_INCREMENTAL) !== 0;
  const baseDeviceId = getU32(b, 76);
  const baseIdentity = b.slice(112, 144);
  const noBaseIdentity = baseIdentity.every((x) => x === 0);
  if (incremental && baseDeviceId === NO_BASE) throw field(76, 'base device id is 0xffffffff (none), but the flags say incremental');
  if (incremental && noBaseIdentity) throw field(112, 'base identity is zeros (none), but the flags say incremental');
  if (!incremental && baseDeviceId !== NO_BASE) throw field(76, `base device id is ${baseDeviceId}: expected 0xffffffff (none) in a full stream`);
  if (!incremental && !noBaseIdentity) throw field(112, 'base identity is not zeros: expected none in a full stream');
  const reserved = b.subarray(144, 252).findIndex((x) => x !== 0);
  if (reserved >= 0) throw field(144 + reserved, 'reserved (bytes 144..251) is not zero');
  return {
    incremental,
    blockSize,
    virtualSize: Number(size),
    pool: b.slice(40, 72),
    deviceId: getU32(b, 72),
    baseDeviceId,
    identity: b.slice(80, 112),
    baseIdentity,
  };
}

/** A record's CRC as stored in it and as computed from the bytes before it: the walk refuses them unequal. */
export interface RecordCrc {
  storedCrc: number;
  computedCrc: number;
}

/**
 * D record, 13 bytes of head, `count` blocks of data, a CRC:
 * ```
 * offset size field
 *      0    1 type 'D' (0x44)
 *      1    8 first block: the first virtual block the data fills
 *      9    4 count: blocks of data, at least 1, at most 1 MiB of them (or one block)
 *     13    count * block size: the blocks' bytes
 *     13 + count * block size    4 CRC-32 of every byte before it
 * ```
 * The head and the CRC are written and read apart, so that the data in
 * between is never copied: `dataHead` / `parseDataHead` for the head,
 * `sealData` / `storedCrc` for the CRC.
 */
export function dataHead(first: number, count: number): Uint8Array {
  const b = new Uint8Array(D_HEAD);
  b[0] = RECORD.data;
  setU64Big(b, 1, BigInt(first));
  setU32(b, 9, count);
  return b;
}

export interface DataHead {
  first: bigint;
  count: number;
}

/** The fields of a D record's head (its first D_HEAD bytes). */
export function parseDataHead(b: Uint8Array): DataHead {
  return { first: getU64Big(b, 1), count: getU32(b, 9) };
}

/** Stores the CRC of a D record whose head and `dataBytes` of data are in `rec` (with room for the CRC after them); returns it. */
export function sealData(rec: Uint8Array, dataBytes: number): number {
  const end = D_HEAD + dataBytes;
  const crc = crc32(rec.subarray(0, end));
  setU32(rec, end, crc);
  return crc;
}

/**
 * Z record, 21 bytes:
 * ```
 * offset size field
 *      0    1 type 'Z' (0x5a)
 *      1    8 first block: the first virtual block unmapped (reads as zeros)
 *      9    8 count: blocks unmapped, at least 1
 *     17    4 CRC-32 of bytes [0, 17)
 * ```
 */
export function zeroRecord(first: number, count: number): Uint8Array {
  const b = new Uint8Array(Z_SIZE);
  b[0] = RECORD.zero;
  setU64Big(b, 1, BigInt(first));
  setU64Big(b, 9, BigInt(count));
  setU32(b, 17, crc32(b.subarray(0, 17)));
  return b;
}

export interface ZeroRecord extends RecordCrc {
  first: bigint;
  count: bigint;
}

/** The fields of a whole Z record. */
export function parseZeroRecord(b: Uint8Array): ZeroRecord {
  return { first: getU64Big(b, 1), count: getU64Big(b, 9), storedCrc: getU32(b, 17), computedCrc: crc32(b.subarray(0, 17)) };
}

/**
 * E record, 33 bytes:
 * ```
 * offset size field
 *      0    1 type 'E' (0x45)
 *      1    8 data blocks: the sum of the D records' counts
 *      9    8 discarded blocks: the sum of the Z records' counts
 *     17    8 records: D and Z records, this one not counted
 *     25    4 stream checksum: chain() of the header's CRC and every record's, in order
 *     29    4 CRC-32 of bytes [0, 29)
 * ```
 */
export interface EndTotals {
  dataBlocks: number;
  zeroBlocks: number;
  records: number;
}

export function endRecord(t: EndTotals, streamChecksum: number): Uint8Array {
  const b = new Uint8Array(E_SIZE);
  b[0] = RECORD.end;
  setU64Big(b, 1, BigInt(t.dataBlocks));
  setU64Big(b, 9, BigInt(t.zeroBlocks));
  setU64Big(b, 17, BigInt(t.records));
  setU32(b, 25, streamChecksum);
  setU32(b, 29, crc32(b.subarray(0, 29)));
  return b;
}

export interface EndRecord extends RecordCrc {
  dataBlocks: bigint;
  zeroBlocks: bigint;
  records: bigint;
  streamChecksum: number;
}

/** The fields of a whole E record. */
export function parseEndRecord(b: Uint8Array): EndRecord {
  return {
    dataBlocks: getU64Big(b, 1),
    zeroBlocks: getU64Big(b, 9),
    records: getU64Big(b, 17),
    streamChecksum: getU32(b, 25),
    storedCrc: getU32(b, 29),
    computedCrc: crc32(b.subarray(0, 29)),
  };
}
