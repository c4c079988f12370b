/**
 * Which filesystem a device holds, from its magic numbers alone: ext2/3/4
 * by the superblock's 0xEF53 at byte 1024 + 0x38 (the generation told by
 * its feature flags), XFS by "XFSB" at byte 0.
 */
import type { ByteSource } from '../io/byte-source.js';

export type FsType = 'ext2' | 'ext3' | 'ext4' | 'xfs';

export interface Detected {
  type: FsType;
  /** One line for a human: "ext4, 4096-byte blocks, 65536 blocks". */
  summary: string;
  /** The filesystem's size as its superblock gives it (blocks x block size), or 0 when the block size is not one it could be. */
  bytes: number;
}

const EXT_MAGIC = 0xef53;

/** The filesystem on `src`, or undefined when no known magic is there. */
export function detectFilesystem(src: ByteSource): Detected | undefined {
  if (src.size >= 2048) {
    const sb = new Uint8Array(1024);
    src.readAt(sb, 1024);
    const v = new DataView(sb.buffer);
    if (v.getUint16(0x38, true) === EXT_MAGIC) {
      const compat = v.getUint32(0x5c, true);
      const incompat = v.getUint32(0x60, true);
      const roCompat = v.getUint32(0x64, true);
      // ext4-only features: extents, 64bit, flex_bg, huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum.
      const ext4 = (incompat & (0x40 | 0x80 | 0x200)) !== 0 || (roCompat & (0x8 | 0x10 | 0x20 | 0x40 | 0x400)) !== 0;
      const type: FsType = ext4 ? 'ext4' : (compat & 0x4) !== 0 ? 'ext3' : 'ext2';
      const log = v.getUint32(0x18, true);
      const blockSize = log <= 6 ? 1024 << log : 0;
      const blocks = v.getUint32(0x4, true) + ((incompat & 0x80) !== 0 ? v.getUint32(0x150, true) * 2 ** 32 : 0);
      return { type, summary: `${type}, ${blockSize}-byte blocks, ${blocks} blocks`, bytes: blockSize * blocks };
    }
  }
  if (src.size >= 512) {
    const sb = new Uint8Array(512);
    src.readAt(sb, 0);
    const v = new DataView(sb.buffer);
    if (v.getUint32(0, false) === 0x58465342) {
      const blockSize = v.getUint32(4, false);
      const blocks = Number(v.getBigUint64(8, false));
      return { type: 'xfs', summary: `xfs, ${blockSize}-byte blocks, ${blocks} blocks`, bytes: blockSize * blocks };
    }
  }
  return undefined;
}

/** One line: what is on the device, or that nothing known is. */
export function describeFilesystem(src: ByteSource): string {
  const d = detectFilesystem(src);
  return d ? `${src.name}: ${d.summary}` : `${src.name}: no ext2/3/4 or XFS filesystem (no superblock magic at byte 1080 or 0)`;
}
