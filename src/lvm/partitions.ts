/**
 * Partition tables of whole-disk images, so that a PV inside a partition
 * is found (Proxmox puts its `pve` VG in partition 3 of a GPT disk):
 * ```
 * MBR, sector 0: 4 entries of 16 bytes at 446, signature 55 AA at 510
 *   entry: +4 u8 type (0xEE: protective, a GPT follows; 0x05/0x0F/0x85:
 *          extended), +8 u32 first sector, +12 u32 sectors
 * GPT header, at the second logical block ("EFI PART"):
 *   +12 u32 header size, +16 u32 header CRC-32 (over header size bytes,
 *   this field zero), +72 u64 entries' LBA, +80 u32 entry count,
 *   +84 u32 entry size, +88 u32 entries' CRC-32
 *   entry: +0 type GUID (all zero: unused), +32 u64 first LBA, +40 u64 last LBA
 * ```
 * Logical blocks of 512 bytes, or 4096 on 4Kn disks (the GPT header is
 * then found at byte 4096). Standard CRC-32 (not LVM's).
 */
import CRC32 from 'crc-32';
import { getU32, getU64 } from '../format/le.js';

export interface Partition {
  /** 1-based, as the kernel names them (sda3). */
  number: number;
  /** Bytes. */
  start: number;
  size: number;
  scheme: 'mbr' | 'gpt';
}

export interface PartitionTable {
  partitions: Partition[];
  /** What was seen but not read (an extended partition, a bad GPT CRC). */
  notes: string[];
}

const EXTENDED = new Set([0x05, 0x0f, 0x85]);

/**
 * The partitions of the disk whose first bytes `read(offset, length)`
 * returns, or undefined when it has no partition table.
 */
export function readPartitionTable(read: (offset: number, length: number) => Uint8Array): PartitionTable | undefined {
  const mbr = read(0, 512);
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) return undefined;
  const entries = [0, 1, 2, 3].map((i) => {
    const e = 446 + 16 * i;
    return { number: i + 1, type: mbr[e + 4], first: getU32(mbr, e + 8), count: getU32(mbr, e + 12) };
  });
  if (entries.some((e) => e.type === 0xee)) {
    for (const block of [512, 4096]) {
      const gpt = readGpt(read, block);
      if (gpt) return gpt;
    }
    return { partitions: [], notes: ['a protective MBR, but no GPT header whose checksums hold'] };
  }
  const table: PartitionTable = { partitions: [], notes: [] };
  for (const e of entries) {
    if (e.type === 0 || e.count === 0) continue;
    if (EXTENDED.has(e.type)) {
      table.notes.push(`partition ${e.number} is an extended partition: its logical partitions are not read`);
      continue;
    }
    table.partitions.push({ number: e.number, start: e.first * 512, size: e.count * 512, scheme: 'mbr' });
  }
  return table;
}

function readGpt(read: (offset: number, length: number) => Uint8Array, block: number): PartitionTable | undefined {
  const h = read(block, block);
  if (Buffer.from(h.subarray(0, 8)).toString('latin1') !== 'EFI PART') return undefined;
  const headerSize = getU32(h, 12);
  if (headerSize < 92 || headerSize > block) return undefined;
  const copy = h.slice(0, headerSize);
  copy.fill(0, 16, 20);
  if (CRC32.buf(copy) >>> 0 !== getU32(h, 16)) return undefined;
  const lba = getU64(h, 72);
  const count = getU32(h, 80);
  const size = getU32(h, 84);
  if (size < 48 || count > 4096) return undefined;
  const entries = read(lba * block, count * size);
  if (CRC32.buf(entries) >>> 0 !== getU32(h, 88)) return undefined;
  const table: PartitionTable = { partitions: [], notes: [] };
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * size, (i + 1) * size);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = getU64(e, 32);
    const last = getU64(e, 40);
    if (last < first) continue;
    table.partitions.push({ number: i + 1, start: first * block, size: (last - first + 1) * block, scheme: 'gpt' });
  }
  return table;
}
