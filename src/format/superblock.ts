/**
 * The superblock: metadata block 0 (and the held metadata snapshot's copy).
 *
 * Layout (dm-thin-metadata.c, struct thin_disk_superblock), little-endian:
 * ```
 *   0 u32  csum            over bytes [4, 4096), salt 160774
 *   4 u32  flags           bit 0: NEEDS_CHECK
 *   8 u64  blocknr         its own location
 *  16 u8[16] uuid          zeros in practice
 *  32 u64  magic           27022010
 *  40 u32  version         1 or 2
 *  44 u32  time            bumped by snapshot creation
 *  48 u64  transaction_id
 *  56 u64  held_root       metadata snapshot's superblock copy, 0 if none
 *  64 u8[128] data space map root      (see space-map-root.ts)
 * 192 u8[128] metadata space map root
 * 320 u64  data mapping root           top level of the two-level tree
 * 328 u64  device details root
 * 336 u32  data_block_size (sectors)
 * 340 u32  metadata_block_size (sectors, 8)
 * 344 u64  metadata_nr_blocks
 * 352 u32  compat_flags, 356 compat_ro_flags, 360 incompat_flags
 * ```
 */
import { Parser } from 'binary-parser';
import { BLOCK_SIZE, Salt, computeChecksum, stampChecksum, storedChecksum } from './checksum.js';
import { BlockNumberError, ChecksumError, FieldError } from './errors.js';
import { ArgumentError } from '../errors.js';
import { getU32, getU64 } from './le.js';
import { type SpaceMapRoot, parseSpaceMapRoot, writeSpaceMapRoot } from './space-map-root.js';

export const SUPERBLOCK_MAGIC = 27022010;
export const SUPERBLOCK_LOCATION = 0;
export const NEEDS_CHECK_FLAG = 1;
/** Data block size bounds (sectors): 64 KiB .. 1 GiB, multiples of 64 KiB. */
export const MIN_DATA_BLOCK_SIZE = 128;
export const MAX_DATA_BLOCK_SIZE = 2097152;

/** Whether block `b` carries the superblock magic (a cheap test before parsing or checksumming it). */
export function hasSuperblockMagic(b: Uint8Array): boolean {
  return getU32(b, 32) === SUPERBLOCK_MAGIC && b[36] === 0 && b[37] === 0 && b[38] === 0 && b[39] === 0;
}

/** The kernel's rule for data_block_size (dm-thin.c pool_ctr): 128..2097152 sectors, a multiple of 128. */
export function validDataBlockSize(sectors: number): boolean {
  return Number.isInteger(sectors) && sectors >= MIN_DATA_BLOCK_SIZE && sectors <= MAX_DATA_BLOCK_SIZE && sectors % MIN_DATA_BLOCK_SIZE === 0;
}

/** What is wrong with a data block size, in words, for every message that rejects one. */
export const DATA_BLOCK_SIZE_RULE = 'is not a multiple of 128 sectors (64 KiB) between 128 and 2097152 (1 GiB)';

/** `sectors` when valid; throws an ArgumentError saying the rule otherwise. */
export function checkedDataBlockSize(sectors: number): number {
  if (!validDataBlockSize(sectors)) throw new ArgumentError(`data block size ${sectors} sectors ${DATA_BLOCK_SIZE_RULE}`);
  return sectors;
}

export interface Superblock {
  csum: number;
  flags: number;
  blocknr: number;
  uuid: Uint8Array;
  magic: number;
  version: number;
  time: number;
  /** A u64 in full: thin-provisioning-tools and LVM may set any value. */
  transactionId: bigint;
  heldRoot: number;
  dataSpaceMapRoot: SpaceMapRoot;
  metadataSpaceMapRoot: SpaceMapRoot;
  mappingRoot: number;
  detailsRoot: number;
  dataBlockSize: number;
  metadataBlockSize: number;
  metadataNrBlocks: number;
  compatFlags: number;
  compatRoFlags: number;
  incompatFlags: number;
}

const rawParser = new Parser()
  .endianness('little')
  .uint32('csum')
  .uint32('flags')
  .uint64('blocknr')
  .buffer('uuid', { length: 16 })
  .uint64('magic')
  .uint32('version')
  .uint32('time')
  .uint64('transactionId')
  .uint64('heldRoot')
  .buffer('dataSm', { length: 128 })
  .buffer('metadataSm', { length: 128 })
  .uint64('mappingRoot')
  .uint64('detailsRoot')
  .uint32('dataBlockSize')
  .uint32('metadataBlockSize')
  .uint64('metadataNrBlocks')
  .uint32('compatFlags')
  .uint32('compatRoFlags')
  .uint32('incompatFlags');

/** Decodes a superblock without judging it (see validateSuperblock). */
export function parseSuperblock(block: Uint8Array): Superblock {
  const r = rawParser.parse(block) as Record<string, bigint | number | Uint8Array>;
  const n = (k: string): number => Number(r[k]);
  return {
    csum: n('csum'),
    flags: n('flags'),
    blocknr: n('blocknr'),
    uuid: Uint8Array.from(r.uuid as Uint8Array),
    magic: n('magic'),
    version: n('version'),
    time: n('time'),
    transactionId: BigInt(r.transactionId as bigint | number),
    heldRoot: n('heldRoot'),
    dataSpaceMapRoot: parseSpaceMapRoot(block.subarray(64, 192)),
    metadataSpaceMapRoot: parseSpaceMapRoot(block.subarray(192, 320)),
    mappingRoot: n('mappingRoot'),
    detailsRoot: n('detailsRoot'),
    dataBlockSize: n('dataBlockSize'),
    metadataBlockSize: n('metadataBlockSize'),
    metadataNrBlocks: n('metadataNrBlocks'),
    compatFlags: n('compatFlags'),
    compatRoFlags: n('compatRoFlags'),
    incompatFlags: n('incompatFlags'),
  };
}

/** Encodes `sb` into a fresh 4 KiB block, blocknr = `location`, checksum stamped. */
export function writeSuperblock(sb: Superblock, location = SUPERBLOCK_LOCATION): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint32(4, sb.flags, true);
  dv.setBigUint64(8, BigInt(location), true);
  b.set(sb.uuid.subarray(0, 16), 16);
  dv.setBigUint64(32, BigInt(sb.magic), true);
  dv.setUint32(40, sb.version, true);
  dv.setUint32(44, sb.time, true);
  dv.setBigUint64(48, sb.transactionId, true);
  dv.setBigUint64(56, BigInt(sb.heldRoot), true);
  writeSpaceMapRoot(sb.dataSpaceMapRoot, b.subarray(64, 192));
  writeSpaceMapRoot(sb.metadataSpaceMapRoot, b.subarray(192, 320));
  dv.setBigUint64(320, BigInt(sb.mappingRoot), true);
  dv.setBigUint64(328, BigInt(sb.detailsRoot), true);
  dv.setUint32(336, sb.dataBlockSize, true);
  dv.setUint32(340, sb.metadataBlockSize, true);
  dv.setBigUint64(344, BigInt(sb.metadataNrBlocks), true);
  dv.setUint32(352, sb.compatFlags, true);
  dv.setUint32(356, sb.compatRoFlags, true);
  dv.setUint32(360, sb.incompatFlags, true);
  stampChecksum(b, Salt.superblock);
  return b;
}

/**
 * Throws the first problem that makes `block` unusable as the superblock at
 * `location`: checksum, blocknr, magic. Field sanity is left to the checker
 * so that it can report every problem, not only the first.
 */
export function validateSuperblock(block: Uint8Array, location = SUPERBLOCK_LOCATION): Superblock {
  const expected = computeChecksum(block, Salt.superblock);
  const stored = storedChecksum(block);
  if (expected !== stored) throw new ChecksumError(location, 'superblock', expected, stored);
  const blocknr = getU64(block, 8);
  if (blocknr !== location) throw new BlockNumberError(location, 'superblock', blocknr);
  const sb = parseSuperblock(block);
  if (sb.magic !== SUPERBLOCK_MAGIC) {
    throw new FieldError(location, 'magic', `${sb.magic}, expected ${SUPERBLOCK_MAGIC}`);
  }
  return sb;
}
