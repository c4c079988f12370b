/**
 * The ext4 reader as the file-level diff sees it (src/fs/diff-volume.ts):
 * inode table blocks by the group layout, owners as icheck finds them, and
 * a file's names searched in its own group's directories first.
 */
import type { BlockRun, DiffInode, DiffVolume } from '../diff-volume.js';
import { type Ext4Inode, inUse, isDir } from './inode.js';
import { ownersOf } from './owners.js';
import type { Ext4Volume } from './volume.js';

export class Ext4DiffVolume implements DiffVolume {
  readonly kind = 'ext4';
  private readonly raw = new Map<number, Ext4Inode>();

  constructor(readonly vol: Ext4Volume) {}

  get name(): string {
    return this.vol.name;
  }
  get blockSize(): number {
    return this.vol.blockSize;
  }
  get blockCount(): number {
    return this.vol.sb.blocksCount;
  }
  get rootIno(): number {
    return 2;
  }
  get inodeSize(): number {
    return this.vol.sb.inodeSize;
  }

  block(n: number, what: string): Uint8Array {
    return this.vol.block(n, what);
  }

  private ext4Inode(ino: number): Ext4Inode {
    let i = this.raw.get(ino);
    if (!i) {
      i = this.vol.inode(ino);
      this.raw.set(ino, i);
    }
    return i;
  }

  inode(ino: number): DiffInode {
    const i = this.ext4Inode(ino);
    return {
      ino,
      inUse: inUse(i),
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      size: i.size,
      nlink: i.linksCount,
      generation: i.generation,
      mtime: i.mtime,
      mtimeNsec: i.mtimeExtra,
    };
  }

  dirEntries(ino: number): Map<string, number> {
    const m = new Map<string, number>();
    for (const e of this.vol.dirEntries(this.ext4Inode(ino))) if (e.name !== '.' && e.name !== '..') m.set(e.name, e.ino);
    return m;
  }

  dirPath(ino: number): string {
    return this.vol.dirPath(ino);
  }

  findPaths(ino: number): string[] {
    return this.vol.findPaths(ino);
  }

  /** The in-use directories of the inode's own group, in inode order (the group's used part only). */
  *nearbyDirs(ino: number): Iterable<number> {
    const { inodesPerGroup, firstIno } = this.vol.sb;
    const g = Math.floor((ino - 1) / inodesPerGroup);
    const gd = this.vol.groupDescs()[g];
    if (!gd) return;
    const used = inodesPerGroup - Math.min(gd.itableUnused, inodesPerGroup);
    for (let k = 0; k < used; k++) {
      const dino = g * inodesPerGroup + k + 1;
      if (dino !== 2 && dino < firstIno) continue;
      const d = this.ext4Inode(dino);
      if (inUse(d) && isDir(d)) yield dino;
    }
  }

  inodesIn(n: number): { ino: number; offset: number }[] | undefined {
    const role = this.vol.blockRole(n);
    if (role.kind !== 'inode-table') return undefined;
    const out: { ino: number; offset: number }[] = [];
    // Reserved inodes (journal, resize, ...) are not files docker diff lists; the root is.
    for (let ino = role.firstIno; ino <= role.lastIno; ino++)
      if (ino === 2 || ino >= this.vol.sb.firstIno) out.push({ ino, offset: (ino - role.firstIno) * this.inodeSize });
    return out;
  }

  mayHoldContent(n: number): boolean {
    return this.vol.blockRole(n).kind === 'data';
  }

  blockInUse(n: number): boolean {
    return this.vol.blockInUse(n);
  }

  blocksOf(i: DiffInode): BlockRun[] {
    const map = this.vol.fileMap(this.ext4Inode(i.ino));
    return [...map.extents.map((e) => ({ start: e.physical, length: e.length })), ...map.metaBlocks.map((b) => ({ start: b, length: 1 }))];
  }

  ownersOf(blocks: number[]): Map<number, number> {
    return ownersOf(this.vol, blocks);
  }
}
