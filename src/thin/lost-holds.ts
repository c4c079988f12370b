/**
 * What a thin device's lost byte ranges held, in its filesystem's terms:
 * the filesystem is read through what survives of the device (the caller
 * opens it: surviving mappings, older copies a repair takes, zeros where
 * neither gives a block), and its own structures (inode tables,
 * directories, extent trees) say whose the lost blocks were
 * (src/fs/describe.ts). The lost blocks themselves are not read: they are
 * gone. The doctor, repair and export say it the same way (issue 24).
 */
import type { ByteSource } from '../io/byte-source.js';
import { MetadataError } from '../format/errors.js';
import { UsageError } from '../errors.js';
import { describeRanges } from '../fs/describe.js';
import { detectFilesystem } from '../fs/detect.js';
import { FsError } from '../fs/errors.js';
import { readPartitionTable } from '../format/partitions.js';
import { WindowSource } from '../io/window-source.js';

export interface ByteSpan {
  offset: number;
  length: number;
}

export interface LostPart extends ByteSpan {
  /** "superblock", "inode table of group 0 (inodes 1..8192)", "file", "directory", "free space", ... */
  structure: string;
  owners?: Array<{ inode: number; path?: string }>;
}

/** Either what the lost ranges held, or why that cannot be told (no filesystem found, its own structures lost too). */
export interface LostHolds {
  lostHolds?: LostPart[];
  lostHoldsUnknown?: string;
}

/** At most this many parts are listed per device; the rest are one part saying so (a file's contiguous blocks are one part). */
const MAX_PARTS = 10_000;

/** `src` as the read function partition tables are parsed through. */
function readsOf(src: ByteSource): (offset: number, length: number) => Uint8Array {
  return (offset, length) => {
    const b = new Uint8Array(length);
    src.readAt(b, offset);
    return b;
  };
}

/**
 * The size of a thin device whose size nothing records (a raw pool's: the
 * dm table line has it, the metadata does not): the filesystem's own,
 * read from its superblock in the first 64 KiB, or on a guest disk the end
 * of its last partition; or `atLeast` (what is mapped, or lost) when larger
 * or when neither is found.
 */
export function rawDeviceBytes(open: (size: number) => ByteSource, atLeast: number): number {
  const fs = detectFilesystem(open(Math.max(atLeast, 64 * 1024)))?.bytes ?? 0;
  if (fs > 0) return Math.max(atLeast, fs);
  // The table's entries say where partitions end; the device is read as large as they may reach (unmapped bytes are zeros).
  const table = readPartitionTable(readsOf(open(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  const end = Math.max(0, ...(table?.partitions ?? []).map((x) => x.start + x.size));
  return Math.max(atLeast, end);
}

/**
 * The size a device's filesystem (or partition table) gives it, read
 * through what survives of the device; undefined when neither is found or
 * what it needs cannot be read.
 */
export function filesystemBytes(open: (size: number) => ByteSource): number | undefined {
  try {
    const bytes = rawDeviceBytes(open, 0);
    return bytes > 0 ? bytes : undefined;
  } catch (e) {
    if (e instanceof MetadataError || e instanceof FsError || e instanceof UsageError) return undefined;
    throw e;
  }
}

/**
 * What `lost` held on the device `open(size)` reads; `size` is the
 * device's when known (LVM's, Docker's), else the filesystem's own.
 */
export function lostHolds(open: (size: number) => ByteSource, lost: readonly ByteSpan[], size?: number): LostHolds {
  if (lost.length === 0) return {};
  const lostEnd = Math.max(...lost.map((x) => x.offset + x.length));
  try {
    const all = describeDevice(open(size ?? rawDeviceBytes(open, lostEnd)), lost);
    const parts = all.slice(0, MAX_PARTS);
    const rest = all.slice(MAX_PARTS);
    if (rest.length > 0) {
      const from = rest[0].offset;
      const to = rest[rest.length - 1].offset + rest[rest.length - 1].length;
      parts.push({ offset: from, length: to - from, structure: `${rest.length} more parts, not listed` });
    }
    return { lostHolds: parts };
  } catch (e) {
    if (!(e instanceof FsError || e instanceof MetadataError || e instanceof UsageError)) throw e;
    return { lostHoldsUnknown: e.message };
  }
}

/**
 * The parts of `lost` on `dev`: by its filesystem, or, on a guest disk (a
 * VM's thin LV begins with a partition table), by each partition's
 * filesystem, in the disk's offsets, each part named with its partition.
 */
function describeDevice(dev: ByteSource, lost: readonly ByteSpan[]): LostPart[] {
  if (detectFilesystem(dev)) return describeRanges(dev, [...lost]).parts.map(part);
  const table = readPartitionTable(readsOf(dev), dev.size);
  // No partition table: the filesystem reader's own one-line refusal says what was looked for.
  if (!table || table.partitions.length === 0) return describeRanges(dev, [...lost]).parts.map(part);
  const out: LostPart[] = [];
  for (const r of lost) {
    let at = r.offset;
    const end = r.offset + r.length;
    while (at < end) {
      const p = table.partitions.find((x) => at >= x.start && at < x.start + x.size);
      if (!p) {
        // Up to the next partition's start: the table itself, or space no partition holds.
        const next = Math.min(end, ...table.partitions.filter((x) => x.start > at).map((x) => x.start));
        const first = at < Math.min(...table.partitions.map((x) => x.start));
        const structure = first
          ? `before the first partition (the ${table.partitions[0].scheme.toUpperCase()} partition table, and the gap up to it)`
          : 'outside every partition';
        out.push({ offset: at, length: next - at, structure });
        at = next;
        continue;
      }
      const to = Math.min(end, p.start + p.size);
      const win = new WindowSource(`${dev.name} partition ${p.number}`, dev, p.start, p.size);
      if (detectFilesystem(win)) {
        for (const x of describeRanges(win, [{ offset: at - p.start, length: to - at }]).parts.map(part))
          out.push({ ...x, offset: x.offset + p.start, structure: `partition ${p.number}: ${x.structure}` });
      } else out.push({ offset: at, length: to - at, structure: `partition ${p.number} (no filesystem dmthin reads there)` });
      at = to;
    }
  }
  return out;
}

function part(p: LostPart): LostPart {
  return { offset: p.offset, length: p.length, structure: p.structure, ...(p.owners?.length ? { owners: p.owners } : {}) };
}

/**
 * What the parts come to, in one line for a person, before the list:
 * "23 files, 1 directory; journal, superblock copy in group 1, ...; 890 MiB
 * of free space". The list is by offset and cut; this line is whole.
 */
export function lostHoldsSummary(parts: readonly LostPart[]): string {
  const files = new Set<number>();
  const dirs = new Set<number>();
  const other: string[] = [];
  let free = 0;
  for (const p of parts) {
    if (p.structure === 'free space') free += p.length;
    else if (p.structure === 'file' || p.structure === 'directory') for (const o of p.owners ?? []) (p.structure === 'file' ? files : dirs).add(o.inode);
    else if (!other.includes(p.structure)) other.push(p.structure);
  }
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  const shown = other.slice(0, 8).join(', ') + (other.length > 8 ? `, and ${other.length - 8} more` : '');
  return [
    [files.size ? n(files.size, 'file', 'files') : '', dirs.size ? n(dirs.size, 'directory', 'directories') : ''].filter(Boolean).join(', '),
    shown,
    free ? `${free} bytes of free space` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

/** A span for a person: "bytes A..B", both bytes included. */
export function spanText(r: ByteSpan): string {
  return `bytes ${r.offset}..${r.offset + r.length - 1}`;
}

/** One line per part, for a person: "bytes A..B: inode table of group 0 /etc/passwd (inode 12)". */
export function lostPartText(h: LostPart): string {
  const who = h.owners?.map((o) => `${o.path ?? '(path unknown)'} (inode ${o.inode})`).join(', ');
  return `${spanText(h)}: ${h.structure}${who ? ` ${who}` : ''}`;
}
