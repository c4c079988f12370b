/**
 * The dmthin stream format, version 1 (docs/stream.md): a header, records
 * of changed blocks (D) and unmapped runs (Z), and an end record (E) with
 * totals and the stream checksum: the CRC-32 of the header's and every
 * record's CRC in order. Every part carries the CRC-32 (IEEE, zlib's) of
 * its own bytes: native, so checking keeps up with the disk.
 *
 * Header, 256 bytes:
 * ```
 *   0 char[16] magic "dmthin-stream\0\0\0"
 *  16 u32 version (1)        20 u32 flags (bit 0: incremental)
 *  24 u32 block size, bytes  28 u32 reserved
 *  32 u64 virtual size, bytes
 *  40 u8[32] pool identity
 *  72 u32 new device id      76 u32 base device id (0xffffffff: none)
 *  80 u8[32] new snapshot identity
 * 112 u8[32] base snapshot identity (zeros: none)
 * 144 reserved, zeros       252 u32 CRC-32 of bytes [0, 252)
 * ```
 * Records: u8 type, fields, u32 CRC-32 of the record's bytes before it.
 * ```
 * D: u64 first block, u32 count, count * block size bytes of data
 * Z: u64 first block, u64 count
 * E: u64 data blocks, u64 discarded blocks, u64 records, u32 stream checksum
 * ```
 */
import { lazyZlib } from '../builtins.js';
import { validDataBlockSize } from '../format/superblock.js';
import { StreamError } from './errors.js';

export const HEADER_SIZE = 256;
export const MAGIC = 'dmthin-stream\0\0\0';
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

/** CRC-32 (IEEE), chained through `seed`. */
export const crc32 = (b: Uint8Array, seed = 0): number => lazyZlib().crc32(b, seed) >>> 0;

/** The stream checksum: folds each part's CRC, in order, into one. */
export function chain(sum: number, partCrc: number): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, partCrc, true);
  return crc32(b, sum);
}

export function writeHeader(h: StreamHeader): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  const v = new DataView(b.buffer);
  b.set(Buffer.from(MAGIC, 'latin1'), 0);
  v.setUint32(16, VERSION, true);
  v.setUint32(20, h.incremental ? FLAG_INCREMENTAL : 0, true);
  v.setUint32(24, h.blockSize, true);
  v.setBigUint64(32, BigInt(h.virtualSize), true);
  b.set(h.pool.subarray(0, 32), 40);
  v.setUint32(72, h.deviceId, true);
  v.setUint32(76, h.baseDeviceId, true);
  b.set(h.identity.subarray(0, 32), 80);
  b.set(h.baseIdentity.subarray(0, 32), 112);
  v.setUint32(252, crc32(b.subarray(0, 252)), true);
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
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  const field = (at: number, what: string): StreamError => new StreamError(where, at, `header field ${what}`);
  if (Buffer.from(b.subarray(0, 16)).toString('latin1') !== MAGIC) throw new StreamError(where, 0, 'not a dmthin stream (no magic)');
  const stored = v.getUint32(252, true);
  const crc = crc32(b.subarray(0, 252));
  if (stored !== crc) throw new StreamError(where, 0, `header checksum: stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}`);
  const version = v.getUint32(16, true);
  if (version !== VERSION) throw new StreamError(where, 16, `stream format version ${version} (this dmthin reads ${VERSION})`);
  const flags = v.getUint32(20, true);
  if ((flags & ~FLAG_INCREMENTAL) !== 0) throw field(20, `flags is 0x${flags.toString(16)}: only bit 0 (incremental) is defined`);
  const blockSize = v.getUint32(24, true);
  if (blockSize % 512 !== 0 || !validDataBlockSize(blockSize / 512)) {
    throw field(24, `block size is ${blockSize} bytes: expected a pool's data block size, a multiple of 64 KiB from 64 KiB to 1 GiB`);
  }
  if (v.getUint32(28, true) !== 0) throw field(28, 'reserved (bytes 28..31) is not zero');
  const size = v.getBigUint64(32, true);
  if (size > BigInt(MAX_VIRTUAL_SIZE)) throw field(32, `virtual size ${size} bytes: expected at most 2^53 - 1 (9 PiB)`);
  if (size % BigInt(blockSize) !== 0n) throw field(32, `virtual size ${size} bytes: expected a multiple of the block size (${blockSize})`);
  const incremental = (flags & FLAG_INCREMENTAL) !== 0;
  const baseDeviceId = v.getUint32(76, true);
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
    deviceId: v.getUint32(72, true),
    baseDeviceId,
    identity: b.slice(80, 112),
    baseIdentity,
  };
}

/** The head of a D record (type, first block, count); its data and CRC follow. */
export function dataHead(first: number, count: number): Uint8Array {
  const b = new Uint8Array(D_HEAD);
  const v = new DataView(b.buffer);
  b[0] = RECORD.data;
  v.setBigUint64(1, BigInt(first), true);
  v.setUint32(9, count, true);
  return b;
}

export function zeroRecord(first: number, count: number): Uint8Array {
  const b = new Uint8Array(Z_SIZE);
  const v = new DataView(b.buffer);
  b[0] = RECORD.zero;
  v.setBigUint64(1, BigInt(first), true);
  v.setBigUint64(9, BigInt(count), true);
  v.setUint32(17, crc32(b.subarray(0, 17)), true);
  return b;
}

export interface EndTotals {
  dataBlocks: number;
  zeroBlocks: number;
  records: number;
}

export function endRecord(t: EndTotals, streamChecksum: number): Uint8Array {
  const b = new Uint8Array(E_SIZE);
  const v = new DataView(b.buffer);
  b[0] = RECORD.end;
  v.setBigUint64(1, BigInt(t.dataBlocks), true);
  v.setBigUint64(9, BigInt(t.zeroBlocks), true);
  v.setBigUint64(17, BigInt(t.records), true);
  v.setUint32(25, streamChecksum, true);
  v.setUint32(29, crc32(b.subarray(0, 29)), true);
  return b;
}
