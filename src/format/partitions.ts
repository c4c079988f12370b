/**
 * Partition tables of whole-disk images, so that a PV inside a partition
 * is found (Proxmox puts its `pve` VG in partition 3 of a GPT disk):
 * ```
 * MBR, sector 0: 4 entries of 16 bytes at 446, signature 55 AA at 510
 *   entry: +4 u8 type (0xEE: protective, a GPT follows; 0x05/0x0F/0x85:
 *          extended), +8 u32 first sector, +12 u32 sectors
 * Extended partition: a chain of EBRs (an MBR each, 55 AA), the first at
 *   its first sector; entry 1 a logical partition (first sector relative
 *   to this EBR), entry 2 the next EBR (relative to the extended
 *   partition's first sector), none at the chain's end. Logical partitions
 *   are numbered from 5, as the kernel does.
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
import { getU32, getU64, getU64Big } from './le.js';

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
  /** What was seen but not read (a broken chain of logical partitions, a bad GPT CRC). */
  notes: string[];
}

const EXTENDED = new Set([0x05, 0x0f, 0x85]);

/**
 * The partitions of the disk of `size` bytes whose bytes `read(offset,
 * length)` returns, or undefined when it has no partition table. Every
 * entry's sectors are checked against the disk: a partition that starts
 * past its end is a note, one that runs past it is cut to what the disk
 * holds (a PV inside then finds itself shorter than its label says); two
 * entries that start at one byte are read once.
 */
export function readPartitionTable(read: (offset: number, length: number) => Uint8Array, size: number): PartitionTable | undefined {
  if (size < 512) return undefined;
  const mbr = read(0, 512);
  if (mbr[510] !== 0x55 || mbr[511] !== 0xaa) return undefined;
  const entries = [0, 1, 2, 3].map((i) => ({ number: i + 1, ...mbrEntry(mbr, i) }));
  const table: PartitionTable = { partitions: [], notes: [] };
  if (entries.some((e) => e.type === 0xee)) {
    const why: string[] = [];
    for (const block of [512, 4096]) {
      const gpt = readGpt(read, size, block, table);
      if (gpt === true) return bounded(table, size);
      if (gpt) why.push(gpt);
    }
    return { partitions: [], notes: [`a protective MBR, but no GPT header whose checksums hold${why.length ? ` (${why.join('; ')})` : ''}`] };
  }
  for (const e of entries) {
    if (e.type === 0 || e.count === 0) continue;
    if (EXTENDED.has(e.type)) {
      readLogical(read, size, e.first, table);
      continue;
    }
    table.partitions.push({ number: e.number, start: e.first * 512, size: e.count * 512, scheme: 'mbr' });
  }
  return bounded(table, size);
}

const mbrEntry = (b: Uint8Array, i: number): { type: number; first: number; count: number } => {
  const e = 446 + 16 * i;
  return { type: b[e + 4], first: getU32(b, e + 8), count: getU32(b, e + 12) };
};

/** More logical partitions than any disk holds: a chain this long is damaged. */
const MAX_LOGICAL = 128;

/**
 * The logical partitions of the extended partition starting at sector
 * `extFirst`, into `table`. The chain is the disk's to make, so it is
 * followed only while each EBR is new (a link back is a loop), inside the
 * disk and signed, and for at most MAX_LOGICAL links; where it stops
 * early, a note says why.
 */
function readLogical(read: (offset: number, length: number) => Uint8Array, size: number, extFirst: number, table: PartitionTable): void {
  const seen = new Set<number>();
  let number = 5 + table.partitions.filter((p) => p.number >= 5).length;
  for (let ebr = extFirst; ; ) {
    const at = `EBR at sector ${ebr}`;
    if (seen.has(ebr)) {
      table.notes.push(`${at} is linked to a second time (the chain of logical partitions loops): none after it is read`);
      return;
    }
    if (seen.size >= MAX_LOGICAL) {
      table.notes.push(`${at}: more than ${MAX_LOGICAL} logical partitions (a damaged chain): none after it is read`);
      return;
    }
    seen.add(ebr);
    if ((ebr + 1) * 512 > size) {
      table.notes.push(`${at} lies past the disk's end (${size} bytes): the logical partitions from there are not read`);
      return;
    }
    const b = read(ebr * 512, 512);
    if (b[510] !== 0x55 || b[511] !== 0xaa) {
      table.notes.push(`${at} has no 55 AA signature: the logical partitions from there are not read`);
      return;
    }
    const logical = mbrEntry(b, 0);
    if (logical.type !== 0 && logical.count !== 0)
      table.partitions.push({ number: number++, start: (ebr + logical.first) * 512, size: logical.count * 512, scheme: 'mbr' });
    const next = mbrEntry(b, 1);
    if (!EXTENDED.has(next.type) || next.count === 0) return;
    ebr = extFirst + next.first;
  }
}

/** `table` with each partition inside the disk's `size` bytes (see readPartitionTable). */
function bounded(table: PartitionTable, size: number): PartitionTable {
  const out: PartitionTable = { partitions: [], notes: table.notes };
  const byStart = new Map<number, number>();
  for (const p of table.partitions) {
    const entry = p.scheme === 'gpt' ? `GPT entry ${p.number}` : p.number > 4 ? `logical partition ${p.number}` : `MBR entry ${p.number}`;
    if (p.start >= size) {
      out.notes.push(
        `${entry}: partition ${p.number} starts at byte ${p.start}, past the disk's end (${size} bytes): the image is truncated or the entry is wrong`,
      );
      continue;
    }
    const same = byStart.get(p.start);
    if (same !== undefined) {
      out.notes.push(`${entry}: partition ${p.number} starts at byte ${p.start}, as partition ${same} does: read once, as partition ${same}`);
      continue;
    }
    byStart.set(p.start, p.number);
    out.partitions.push({ ...p, size: Math.min(p.size, size - p.start) });
  }
  return out;
}

/** Entry sizes a GPT may declare (UEFI: 128 times a power of two); larger than a block is refused. */
const validEntrySize = (n: number, block: number): boolean => n >= 128 && n <= block && (n & (n - 1)) === 0;
/** More entries than any partitioning tool writes (128 is the norm). */
const MAX_GPT_ENTRIES = 4096;

/**
 * Reads the GPT whose header is at byte `block` into `table`; true when it
 * holds, a reason when its header is there but unusable, undefined when
 * there is no header.
 */
function readGpt(read: (offset: number, length: number) => Uint8Array, size: number, block: number, table: PartitionTable): true | string | undefined {
  if (2 * block > size) return undefined;
  const h = read(block, block);
  if (Buffer.from(h.subarray(0, 8)).toString('latin1') !== 'EFI PART') return undefined;
  const at = `GPT header at byte ${block}`;
  const headerSize = getU32(h, 12);
  if (headerSize < 92 || headerSize > block) return `${at}: header size ${headerSize} (expected 92 to ${block})`;
  const copy = h.slice(0, headerSize);
  copy.fill(0, 16, 20);
  if (CRC32.buf(copy) >>> 0 !== getU32(h, 16)) return `${at}: bad header CRC-32`;
  const lba = getU64(h, 72);
  const count = getU32(h, 80);
  const entrySize = getU32(h, 84);
  if (!validEntrySize(entrySize, block)) return `${at}: entry size ${entrySize} (expected 128 times a power of two, at most ${block})`;
  if (count > MAX_GPT_ENTRIES) return `${at}: ${count} entries (expected at most ${MAX_GPT_ENTRIES})`;
  const bytes = count * entrySize;
  if (!Number.isSafeInteger(lba * block) || lba < 2 || lba * block + bytes > size)
    return `${at}: the entries at LBA ${getU64Big(h, 72)} (${bytes} bytes) do not lie inside the disk's ${size} bytes`;
  const entries = read(lba * block, bytes);
  if (CRC32.buf(entries) >>> 0 !== getU32(h, 88)) return `${at}: bad entries CRC-32`;
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = getU64(e, 32);
    const last = getU64(e, 40);
    const start = first * block;
    const bytes = (last - first + 1) * block;
    if (last < first || !Number.isSafeInteger(start) || !Number.isSafeInteger(bytes)) {
      table.notes.push(`GPT entry ${i + 1}: first LBA ${getU64Big(e, 32)}, last LBA ${getU64Big(e, 40)} (expected first <= last, inside the disk)`);
      continue;
    }
    table.partitions.push({ number: i + 1, start, size: bytes, scheme: 'gpt' });
  }
  return true;
}
