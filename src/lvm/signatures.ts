/**
 * What a file or partition holds when it is not an LVM PV: the signatures
 * an examiner meets instead, each named with what to do about it. Disk
 * image containers must be converted to raw bytes first; encrypted volumes
 * opened; a filesystem, swap or RAID member is simply not a PV (an md RAID
 * member's PV lies in the assembled array).
 */

export interface Signature {
  /**
   * "encrypted" (LUKS) and "container" (a disk image format: nothing in it
   * can be read as it is) stop the search; "other" (a filesystem, swap, a
   * RAID member) is only named when no PV is found.
   */
  kind: 'encrypted' | 'container' | 'other';
  /** What it is, and what to do: "a qcow2 disk image: convert it to raw first (qemu-img convert -O raw IN OUT)". */
  what: string;
}

interface Rule {
  at: number;
  magic: string;
  kind: Signature['kind'];
  what: string;
}

const RAW = 'convert it to raw first';
const RULES: Rule[] = [
  { at: 0, magic: 'LUKS\xba\xbe', kind: 'encrypted', what: 'LUKS-encrypted: open it with cryptsetup first (dmthin cannot read it without the key)' },
  { at: 0, magic: 'QFI\xfb', kind: 'container', what: `a qcow2 disk image: ${RAW} (qemu-img convert -O raw IMAGE disk.raw)` },
  { at: 0, magic: 'KDMV', kind: 'container', what: `a VMDK disk image: ${RAW} (qemu-img convert -O raw IMAGE disk.raw)` },
  { at: 0, magic: 'vhdxfile', kind: 'container', what: `a VHDX disk image: ${RAW} (qemu-img convert -O raw IMAGE disk.raw)` },
  { at: 0, magic: 'conectix', kind: 'container', what: `a VHD disk image: ${RAW} (qemu-img convert -O raw IMAGE disk.raw)` },
  { at: 64, magic: '\x7f\x10\xda\xbe', kind: 'container', what: `a VirtualBox VDI disk image: ${RAW} (qemu-img convert -O raw IMAGE disk.raw)` },
  {
    at: 0,
    magic: 'EVF\x09\x0d\x0a\xff\x00',
    kind: 'container',
    what: 'an EnCase (E01) evidence file: expose its raw bytes first (ewfmount IMAGE.E01 /mnt/ewf, then give /mnt/ewf/ewf1)',
  },
  // A raw pool's metadata: its superblock's magic 27022010 (0x019c52ba), little-endian, at byte 32 of block 0.
  {
    at: 32,
    magic: '\xba\x52\x9c\x01\x00\x00\x00\x00',
    kind: 'other',
    what: "thin pool metadata (a raw pool's, not an LVM PV): the thin commands read it directly (dmthin ls, check or shrink --metadata FILE)",
  },
  { at: 1080, magic: '\x53\xef', kind: 'other', what: 'an ext2/3/4 filesystem, not an LVM PV' },
  { at: 0, magic: 'XFSB', kind: 'other', what: 'an XFS filesystem, not an LVM PV' },
  { at: 65600, magic: '_BHRfS_M', kind: 'other', what: 'a btrfs filesystem, not an LVM PV' },
  { at: 3, magic: 'NTFS    ', kind: 'other', what: 'an NTFS filesystem, not an LVM PV' },
  { at: 4086, magic: 'SWAPSPACE2', kind: 'other', what: 'Linux swap, not an LVM PV' },
  { at: 4096, magic: '\xfc\x4e\x2b\xa9', kind: 'other', what: 'an md RAID member (superblock 1.2): assemble the array and give the array, where the PV lies' },
  { at: 0, magic: '\xfc\x4e\x2b\xa9', kind: 'other', what: 'an md RAID member (superblock 1.1): assemble the array and give the array, where the PV lies' },
];

/** The first signature found through `read(offset, length)` in bytes [0, size), or undefined. */
export function identify(read: (offset: number, length: number) => Uint8Array, size: number, wholeFile: boolean): Signature | undefined {
  for (const r of RULES) {
    if ((r.kind === 'container' && !wholeFile) || r.at + r.magic.length > size) continue;
    if (Buffer.from(read(r.at, r.magic.length)).toString('latin1') === r.magic) return { kind: r.kind, what: r.what };
  }
  return undefined;
}
