/**
 * What a thin LV holds at its start, for the plan's proving step: a
 * Proxmox or QEMU guest disk begins with a partition table (fsck of the LV
 * itself then fails: "Bad magic number"), and each of its partitions must
 * be mapped first. The LV's first bytes are read through the pool's own
 * mappings; bytes no trustworthy mapping gives leave the answer unknown,
 * never guessed.
 */
import { type Partition, readPartitionTable } from '../format/partitions.js';

/** What the LV begins with. */
export type GuestLayout =
  | { kind: 'plain' }
  | { kind: 'unknown'; why: string }
  | { kind: 'partitioned'; scheme: Partition['scheme']; partitions: GuestPartition[]; notes: string[] };

export interface GuestPartition extends Partition {
  /** The filesystem its first bytes name (ext4, xfs, ...), 'swap', 'lvm' (a guest's own PV), or undefined when none is known. */
  fs?: string;
}

/** A read that cannot be answered from trustworthy mappings. */
export class Unreadable extends Error {}

export function guestLayout(read: (offset: number, length: number) => Uint8Array, size: number): GuestLayout {
  try {
    const table = readPartitionTable(read, size);
    if (!table) return { kind: 'plain' };
    if (table.partitions.length === 0) return { kind: 'unknown', why: table.notes.join('; ') || 'a partition table with no partition' };
    const partitions = table.partitions.map((p) => ({ ...p, fs: fsAt(read, p) }));
    return { kind: 'partitioned', scheme: table.partitions[0].scheme, partitions, notes: table.notes };
  } catch (e) {
    if (e instanceof Unreadable) return { kind: 'unknown', why: e.message };
    throw e;
  }
}

/** The filesystem a partition's first bytes name; undefined when none dmthin knows (or they cannot be read). */
function fsAt(read: (offset: number, length: number) => Uint8Array, p: Partition): string | undefined {
  if (p.size < 8192) return undefined;
  let b: Uint8Array;
  try {
    b = read(p.start, 8192);
  } catch (e) {
    if (e instanceof Unreadable) return undefined;
    throw e;
  }
  const text = (at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));
  if (b[1024 + 56] === 0x53 && b[1024 + 57] === 0xef) return 'ext';
  if (text(0, 4) === 'XFSB') return 'xfs';
  if (text(4086, 10) === 'SWAPSPACE2' || text(4086, 10) === 'SWAP-SPACE') return 'swap';
  if (text(512 + 0, 8) === 'LABELONE' || text(0, 8) === 'LABELONE') return 'lvm';
  if (b[510] === 0x55 && b[511] === 0xaa && (text(54, 3) === 'FAT' || text(82, 3) === 'FAT')) return 'vfat';
  if (text(3, 4) === 'NTFS') return 'ntfs';
  return undefined;
}

/**
 * The proving step's lines for device `dev`: fsck -n of the device when it
 * holds no partition table; else its partitions mapped read-only with
 * losetup -P (util-linux: on every Debian, Proxmox and RHEL host), fsck -n
 * of each partition holding a filesystem, and the loop device let go.
 */
export function fsckLines(dev: string, layout: GuestLayout): { words: string; commands: string[] } {
  if (layout.kind === 'plain') return { words: '', commands: [`fsck -n ${dev}`] };
  const map = `L=$(losetup -P --show -f --read-only ${dev})`;
  if (layout.kind === 'unknown')
    return {
      words: `whether ${dev} begins with a partition table is unknown (${layout.why}): if blkid -p ${dev} says PTTYPE, fsck of the LV itself fails; map its partitions instead (${map}) and fsck -n each ("$L"p1, ...), then losetup -d $L`,
      // fsck of the LV as before: what the lost bytes leave is what this step is there to show.
      commands: [`fsck -n ${dev}`],
    };
  const checked = layout.partitions.filter((p) => p.fs !== undefined && p.fs !== 'swap' && p.fs !== 'lvm');
  const skipped = layout.partitions.filter((p) => !checked.includes(p));
  const part = (p: GuestPartition): string => `${p.number} (byte ${p.start}, ${p.size} bytes${p.fs ? `, ${p.fs}` : ''})`;
  const words =
    `${dev} holds ${layout.scheme === 'gpt' ? 'a GPT' : 'an MBR'} partition table (fsck of the LV itself fails): map it read-only with losetup -P, then fsck -n ` +
    (checked.length ? `partition${checked.length === 1 ? '' : 's'} ${checked.map(part).join(', ')}` : 'nothing: no partition holds a filesystem dmthin knows') +
    (skipped.length
      ? `; not ${skipped.map((p) => `${p.number} (${p.fs === 'swap' ? 'swap' : p.fs === 'lvm' ? "the guest's own LVM PV: vgscan inside the guest" : 'no filesystem dmthin knows'})`).join(', ')}`
      : '') +
    (layout.notes.length ? `; ${layout.notes.join('; ')}` : '');
  return { words, commands: [map, ...checked.map((p) => `fsck -n "$L"p${p.number}`), 'losetup -d $L'] };
}
