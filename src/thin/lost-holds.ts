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

/**
 * The size of a thin device whose size nothing records (a raw pool's: the
 * dm table line has it, the metadata does not): the filesystem's own,
 * read from its superblock in the first 64 KiB, or `atLeast` (what is
 * mapped, or lost) when larger or when no filesystem is found.
 */
export function rawDeviceBytes(open: (size: number) => ByteSource, atLeast: number): number {
  return Math.max(atLeast, detectFilesystem(open(Math.max(atLeast, 64 * 1024)))?.bytes ?? 0);
}

/**
 * What `lost` held on the device `open(size)` reads; `size` is the
 * device's when known (LVM's, Docker's), else the filesystem's own.
 */
export function lostHolds(open: (size: number) => ByteSource, lost: readonly ByteSpan[], size?: number): LostHolds {
  if (lost.length === 0) return {};
  const lostEnd = Math.max(...lost.map((x) => x.offset + x.length));
  try {
    const desc = describeRanges(open(size ?? rawDeviceBytes(open, lostEnd)), [...lost]);
    const parts: LostPart[] = desc.parts.slice(0, MAX_PARTS).map((p) => ({
      offset: p.offset,
      length: p.length,
      structure: p.structure,
      ...(p.owners?.length ? { owners: p.owners } : {}),
    }));
    const rest = desc.parts.slice(MAX_PARTS);
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

/** One line per part, for a person: "bytes A..B: inode table of group 0 /etc/passwd (inode 12)". */
export function lostPartText(h: LostPart): string {
  const who = h.owners?.map((o) => `${o.path ?? '(path unknown)'} (inode ${o.inode})`).join(', ');
  return `bytes ${h.offset}..${h.offset + h.length - 1}: ${h.structure}${who ? ` ${who}` : ''}`;
}
