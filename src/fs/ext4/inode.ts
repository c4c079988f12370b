/**
 * One ext4 inode's fields, decoded from its bytes in the inode table. The
 * checksum (metadata_csum) is verified by the volume, which knows where the
 * bytes came from.
 */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export const InodeFlag = { index: 0x1000, hugeFile: 0x40000, extents: 0x80000, inlineData: 0x10000000 } as const;

export interface Ext4Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linksCount: number;
  flags: number;
  generation: number;
  mtime: number;
  mtimeExtra: number;
  dtime: number;
  fileAcl: number;
  /** The 60 bytes of i_block: extent root, block map, inline data or a fast symlink. */
  iblock: Uint8Array;
  /** The inode's bytes as stored. */
  raw: Uint8Array;
  extraIsize: number;
}

export function decodeInode(ino: number, raw: Uint8Array): Ext4Inode {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  const large = raw.length > 128;
  const extraIsize = large ? u16(0x80) : 0;
  return {
    ino,
    mode: u16(0x0),
    uid: u16(0x2) | (u16(0x78) << 16),
    gid: u16(0x18) | (u16(0x7a) << 16),
    size: u32(0x4) + u32(0x6c) * 2 ** 32,
    linksCount: u16(0x1a),
    flags: u32(0x20),
    generation: u32(0x64),
    mtime: u32(0x10),
    mtimeExtra: large && extraIsize >= 12 && 0x80 + 12 <= raw.length ? u32(0x88) : 0,
    dtime: u32(0x14),
    fileAcl: u32(0x68) + u16(0x76) * 2 ** 32,
    iblock: raw.subarray(0x28, 0x28 + 60),
    raw,
    extraIsize,
  };
}

/** An inode that holds a file: a mode and at least one link. */
export function inUse(i: Ext4Inode): boolean {
  return i.mode !== 0 && i.linksCount > 0 && i.dtime === 0;
}

export function isDir(i: Ext4Inode): boolean {
  return (i.mode & S_IFMT) === S_IFDIR;
}

export function isSymlink(i: Ext4Inode): boolean {
  return (i.mode & S_IFMT) === S_IFLNK;
}
