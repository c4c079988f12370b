/**
 * The ext2/3/4 superblock (1024 bytes at byte 1024): what the reader needs
 * to find groups, inodes and blocks, each value bounded by the device.
 */
import { FsChecksumError, FsError } from '../errors.js';
import type { FsReader } from '../reader.js';
import { crc32cRaw } from './csum.js';

export const Compat = { hasJournal: 0x4, dirIndex: 0x20 } as const;
export const Incompat = {
  filetype: 0x2,
  journalDev: 0x8,
  metaBg: 0x10,
  extents: 0x40,
  bit64: 0x80,
  flexBg: 0x200,
  csumSeed: 0x2000,
  inlineData: 0x8000,
} as const;
export const RoCompat = { sparseSuper: 0x1, hugeFile: 0x8, gdtCsum: 0x10, bigalloc: 0x200, metadataCsum: 0x400 } as const;

export interface Ext4Superblock {
  inodesCount: number;
  blocksCount: number;
  firstDataBlock: number;
  blockSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  firstIno: number;
  inodeSize: number;
  compat: number;
  incompat: number;
  roCompat: number;
  descSize: number;
  groupCount: number;
  journalInum: number;
  reservedGdtBlocks: number;
  firstMetaBg: number;
  metadataCsum: boolean;
  /** The seed every metadata checksum starts from. */
  csumSeed: number;
  /** The superblock's own bytes, for the diff to compare. */
  raw: Uint8Array;
}

const MAGIC = 0xef53;

export function readExt4Superblock(r: FsReader): Ext4Superblock {
  const what = 'ext4 superblock';
  if (r.size < 2048) throw new FsError(r.name, 1024, what, `device of ${r.size} bytes is too small for a superblock at byte 1024`);
  const raw = r.read(1024, 1024, what);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u32 = (o: number) => v.getUint32(o, true);
  const u16 = (o: number) => v.getUint16(o, true);
  const fail = (o: number, d: string): never => {
    throw new FsError(r.name, 1024 + o, what, d);
  };
  if (u16(0x38) !== MAGIC) fail(0x38, `magic 0x${u16(0x38).toString(16)}, expected 0xef53`);
  const log = u32(0x18);
  if (log > 6) fail(0x18, `s_log_block_size ${log}, expected 0..6 (1 KiB..64 KiB blocks)`);
  const blockSize = 1024 << log;
  const compat = u32(0x5c);
  const incompat = u32(0x60);
  const roCompat = u32(0x64);
  const bit64 = (incompat & Incompat.bit64) !== 0;
  const blocksCount = u32(0x4) + (bit64 ? u32(0x150) * 2 ** 32 : 0);
  const firstDataBlock = u32(0x14);
  const blocksPerGroup = u32(0x20);
  const inodesPerGroup = u32(0x28);
  const inodesCount = u32(0x0);
  const rev = u32(0x4c);
  const inodeSize = rev === 0 ? 128 : u16(0x58);
  const firstIno = rev === 0 ? 11 : u32(0x54);
  const descSize = bit64 ? u16(0xfe) : 32;
  const deviceBlocks = Math.floor(r.size / blockSize);
  if (blocksCount === 0 || blocksCount > deviceBlocks) fail(0x4, `${blocksCount} blocks, the device holds ${deviceBlocks} of ${blockSize} bytes`);
  if (firstDataBlock >= blocksCount || firstDataBlock > 1) fail(0x14, `s_first_data_block ${firstDataBlock}, expected 0 or 1`);
  if (blocksPerGroup === 0 || blocksPerGroup > blockSize * 8) fail(0x20, `${blocksPerGroup} blocks per group, expected 1..${blockSize * 8}`);
  if (inodesPerGroup === 0 || inodesPerGroup > blockSize * 8) fail(0x28, `${inodesPerGroup} inodes per group, expected 1..${blockSize * 8}`);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0)
    fail(0x58, `inode size ${inodeSize}, expected a power of two 128..${blockSize}`);
  if (descSize < 32 || descSize > 1024 || (bit64 && descSize < 64)) fail(0xfe, `group descriptor size ${descSize}, expected 32 or 64..1024`);
  if ((incompat & Incompat.journalDev) !== 0) fail(0x60, 'an external journal device, not a filesystem');
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (inodesCount > groupCount * inodesPerGroup) fail(0x0, `${inodesCount} inodes, more than ${groupCount} groups of ${inodesPerGroup}`);
  if (firstIno < 11 || firstIno > inodesCount) fail(0x54, `first inode ${firstIno}, expected 11..${inodesCount}`);
  const metadataCsum = (roCompat & RoCompat.metadataCsum) !== 0;
  let csumSeed = 0;
  if (metadataCsum) {
    const stored = u32(0x3fc);
    const computed = crc32cRaw(0xffffffff, raw.subarray(0, 0x3fc));
    if (stored !== computed) throw new FsChecksumError(r.name, 1024, what, Math.floor(1024 / blockSize), stored, computed);
    csumSeed = (incompat & Incompat.csumSeed) !== 0 ? u32(0x270) : crc32cRaw(0xffffffff, raw.subarray(0x68, 0x78));
  }
  return {
    inodesCount,
    blocksCount,
    firstDataBlock,
    blockSize,
    blocksPerGroup,
    inodesPerGroup,
    firstIno,
    inodeSize,
    compat,
    incompat,
    roCompat,
    descSize,
    groupCount,
    journalInum: u32(0xe0),
    reservedGdtBlocks: u16(0xce),
    firstMetaBg: u32(0x104),
    metadataCsum,
    csumSeed,
    raw,
  };
}
