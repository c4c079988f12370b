/**
 * What a file given as pool metadata holds instead, told from its first
 * 8 KiB: the mistakes an admin makes at the first try (a PV image or a
 * whole disk for `--metadata`, a thin device's filesystem, the pool's
 * data). Thin metadata has its superblock at block 0 (magic at byte 32);
 * only a file without it is looked at, so damaged metadata is never taken
 * for something else on a stray byte: each signature below is one no
 * superblock field can hold.
 *
 *   LVM2 PV label: "LABELONE" at byte 0 of one of sectors 0..3, "LVM2 001" at byte 24 of it (lvm2 lib/label/label.h)
 *   GPT header:    "EFI PART" at byte 512 (LBA 1, 512-byte sectors) or 4096 (4 KiB sectors)
 *   MBR:           0x55 0xaa at byte 510, a partition entry at 446 with a type
 *   ext2/3/4:      0xef53 at byte 1080 (superblock at 1024, s_magic at 56)
 *   XFS:           "XFSB" at byte 0
 */
import { SUPERBLOCK_MAGIC } from './superblock.js';

/** Bytes of the file's start that foreignContent looks at. */
export const FOREIGN_HEAD_BYTES = 8192;

const ascii = (b: Uint8Array, at: number, s: string): boolean => {
  if (at + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
};

/**
 * What `head` (a file's first bytes, up to FOREIGN_HEAD_BYTES) holds when
 * it is not thin metadata, with the way on, for `path`; undefined when it
 * has the thin superblock's magic or nothing known.
 */
export function foreignContent(head: Uint8Array, path: string): string | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 40 && view.getUint32(32, true) === SUPERBLOCK_MAGIC) return undefined;
  for (let sector = 0; sector < 4; sector++) {
    if (ascii(head, sector * 512, 'LABELONE') && ascii(head, sector * 512 + 24, 'LVM2 001'))
      return `an LVM physical volume (its label in sector ${sector}): a thin pool in it is read by VG/POOL name, not as a metadata file: dmthin lvm ls ${path} lists its pools, then dmthin lvm VERB ${path} VG/POOL (docs/lvm.md)`;
  }
  if (ascii(head, 512, 'EFI PART') || ascii(head, 4096, 'EFI PART'))
    return `a disk with a GPT partition table: if LVM is on it, dmthin lvm ls ${path} lists its pools and reads them inside it (docs/lvm.md); a raw pool's metadata is one partition or file, not the whole disk`;
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa && [0, 1, 2, 3].some((i) => head[446 + i * 16 + 4] !== 0))
    return `a disk with an MBR partition table: if LVM is on it, dmthin lvm ls ${path} lists its pools and reads them inside it (docs/lvm.md); a raw pool's metadata is one partition or file, not the whole disk`;
  if (head.length >= 1082 && view.getUint16(1080, true) === 0xef53)
    return "an ext2/3/4 filesystem: a thin device's contents (or a pool's data), not its metadata; give the pool's metadata device (under LVM, VG/POOL_tmeta; dmthin lvm ls reads it by name)";
  if (ascii(head, 0, 'XFSB'))
    return "an XFS filesystem: a thin device's contents (or a pool's data), not its metadata; give the pool's metadata device (under LVM, VG/POOL_tmeta; dmthin lvm ls reads it by name)";
  return undefined;
}
