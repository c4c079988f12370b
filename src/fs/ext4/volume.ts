/**
 * An ext2/3/4 filesystem read on demand: each question (an inode, a file's
 * blocks, a directory's entries, what a block is) reads only the blocks
 * that answer it. Every number read is bounded by the superblock and the
 * device before it is used; damage gives an FsError naming the inode, the
 * block and the byte.
 */
import { FsChecksumError, FsError } from '../errors.js';
import type { FsReader } from '../reader.js';
import { crc32cRaw, u32le } from './csum.js';
import { decodeInode, type Ext4Inode, InodeFlag, isDir, isSymlink } from './inode.js';
import { Incompat, RoCompat, type Ext4Superblock, readExt4Superblock } from './superblock.js';

export interface GroupDesc {
  group: number;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  flags: number;
  itableUnused: number;
}

/** A run of a file's blocks: logical block `logical` onward maps to `physical` for `length` blocks. */
export interface Extent {
  logical: number;
  physical: number;
  length: number;
  /** Allocated but not written (reads as zeros). */
  unwritten: boolean;
}

export interface FileMap {
  extents: Extent[];
  /** The blocks of the mapping itself: extent tree nodes below the inode, indirect blocks. */
  metaBlocks: number[];
}

export interface DirEntry {
  name: string;
  ino: number;
  /** The directory block the entry lies in, or -1 for inline data. */
  block: number;
  /** The entry's file type (2: directory), or 0 where the filesystem stores none (no filetype feature). */
  fileType: number;
}

/** What a filesystem block is, as far as the layout alone tells. */
export type BlockRole =
  | { kind: 'superblock'; group: number }
  | { kind: 'group-descriptors'; group: number }
  | { kind: 'block-bitmap'; group: number }
  | { kind: 'inode-bitmap'; group: number }
  | { kind: 'inode-table'; group: number; firstIno: number; lastIno: number }
  | { kind: 'journal' }
  | { kind: 'data' };

const MAX_DEPTH = 5;
const MAX_PATH_DEPTH = 4096;
const textDecoder = new TextDecoder('utf-8');

export class Ext4Volume {
  readonly sb: Ext4Superblock;
  private groups: GroupDesc[] | undefined;
  private journal: Extent[] | undefined;
  private readonly dirCache = new Map<number, DirEntry[]>();

  constructor(readonly r: FsReader) {
    this.sb = readExt4Superblock(r);
  }

  get name(): string {
    return this.r.name;
  }

  get blockSize(): number {
    return this.sb.blockSize;
  }

  private fail(offset: number, structure: string, detail: string): never {
    throw new FsError(this.name, offset, structure, detail);
  }

  /** Block `n`, checked against the filesystem's size. */
  block(n: number, what: string): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.sb.blocksCount)
      this.fail(n * this.blockSize, what, `block ${n} lies outside the filesystem's ${this.sb.blocksCount} blocks`);
    return this.r.block(n, this.blockSize, what);
  }

  /** Whether group `g` holds a superblock and descriptor backup (sparse_super: 0, 1 and powers of 3, 5, 7). */
  hasSuper(g: number): boolean {
    if ((this.sb.roCompat & RoCompat.sparseSuper) === 0 || g <= 1) return true;
    for (const base of [3, 5, 7]) {
      let p = base;
      while (p < g) p *= base;
      if (p === g) return true;
    }
    return false;
  }

  groupFirstBlock(g: number): number {
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup;
  }

  get descPerBlock(): number {
    return Math.floor(this.blockSize / this.sb.descSize);
  }

  get gdtBlocks(): number {
    return Math.ceil(this.sb.groupCount / this.descPerBlock);
  }

  /** The block holding descriptor block `i` of the table (meta_bg moves later ones into their groups). */
  private descBlock(i: number): number {
    const metaBg = (this.sb.incompat & Incompat.metaBg) !== 0;
    if (!metaBg || i < this.sb.firstMetaBg) return this.sb.firstDataBlock + 1 + i;
    const g = i * this.descPerBlock;
    return this.groupFirstBlock(g) + (this.hasSuper(g) ? 1 : 0);
  }

  /** Every group's descriptor (the table is groupCount * descSize bytes: a few blocks). */
  groupDescs(): GroupDesc[] {
    if (this.groups) return this.groups;
    const out: GroupDesc[] = [];
    const { descSize, groupCount } = this.sb;
    const bit64 = (this.sb.incompat & Incompat.bit64) !== 0;
    for (let i = 0; i * this.descPerBlock < groupCount; i++) {
      const bn = this.descBlock(i);
      const blk = this.block(bn, 'ext4 group descriptors');
      const v = new DataView(blk.buffer, blk.byteOffset, blk.byteLength);
      for (let j = 0; j < this.descPerBlock && i * this.descPerBlock + j < groupCount; j++) {
        const g = i * this.descPerBlock + j;
        const o = j * descSize;
        const u32 = (x: number) => v.getUint32(o + x, true);
        const hi = (x: number) => (bit64 ? v.getUint32(o + x, true) * 2 ** 32 : 0);
        const d: GroupDesc = {
          group: g,
          blockBitmap: u32(0x0) + hi(0x20),
          inodeBitmap: u32(0x4) + hi(0x24),
          inodeTable: u32(0x8) + hi(0x28),
          flags: v.getUint16(o + 0x12, true),
          itableUnused: v.getUint16(o + 0x1c, true) + (bit64 ? v.getUint16(o + 0x32, true) * 65536 : 0),
        };
        const at = bn * this.blockSize + o;
        const what = `ext4 group descriptor ${g}`;
        if (this.sb.metadataCsum) {
          const copy = blk.slice(o, o + descSize);
          copy[0x1e] = 0;
          copy[0x1f] = 0;
          const computed = crc32cRaw(crc32cRaw(this.sb.csumSeed, u32le(g)), copy) & 0xffff;
          const stored = v.getUint16(o + 0x1e, true);
          if (stored !== computed) throw new FsChecksumError(this.name, at, what, bn, stored, computed);
        }
        const itBlocks = Math.ceil((this.sb.inodesPerGroup * this.sb.inodeSize) / this.blockSize);
        for (const [field, b, n] of [
          ['block bitmap', d.blockBitmap, 1],
          ['inode bitmap', d.inodeBitmap, 1],
          ['inode table', d.inodeTable, itBlocks],
        ] as const) {
          if (b === 0 || b + n > this.sb.blocksCount) this.fail(at, what, `${field} at block ${b}, outside the filesystem's ${this.sb.blocksCount} blocks`);
        }
        out.push(d);
      }
    }
    this.groups = out;
    return out;
  }

  get inodeTableBlocks(): number {
    return Math.ceil((this.sb.inodesPerGroup * this.sb.inodeSize) / this.blockSize);
  }

  /** Byte offset of inode `ino` on the device. */
  inodeOffset(ino: number): number {
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > this.sb.inodesCount) this.fail(1024, 'ext4 inode', `inode ${ino} outside 1..${this.sb.inodesCount}`);
    const g = Math.floor((ino - 1) / this.sb.inodesPerGroup);
    const idx = (ino - 1) % this.sb.inodesPerGroup;
    const d = this.groupDescs()[g];
    return d.inodeTable * this.blockSize + idx * this.sb.inodeSize;
  }

  /** Inode `ino`, its checksum verified where metadata_csum is set (a never-used, zeroed inode has none). */
  inode(ino: number): Ext4Inode {
    const off = this.inodeOffset(ino);
    const bn = Math.floor(off / this.blockSize);
    const blk = this.block(bn, `ext4 inode table (inode ${ino})`);
    const raw = blk.subarray(off % this.blockSize, (off % this.blockSize) + this.sb.inodeSize);
    const inode = decodeInode(ino, raw);
    if (this.sb.metadataCsum && raw.some((b) => b !== 0)) this.verifyInode(inode, off, bn);
    return inode;
  }

  /** The seed of an inode's own checksums (inode, extent blocks, directory blocks). */
  inodeSeed(i: Ext4Inode): number {
    return crc32cRaw(crc32cRaw(this.sb.csumSeed, u32le(i.ino)), u32le(i.generation));
  }

  private verifyInode(i: Ext4Inode, off: number, bn: number): void {
    const copy = i.raw.slice();
    copy[0x7c] = 0;
    copy[0x7d] = 0;
    const hasHi = copy.length > 128 && i.extraIsize >= 4;
    if (hasHi) {
      copy[0x82] = 0;
      copy[0x83] = 0;
    }
    const crc = crc32cRaw(this.inodeSeed(i), copy);
    const v = new DataView(i.raw.buffer, i.raw.byteOffset, i.raw.byteLength);
    const stored = v.getUint16(0x7c, true) + (hasHi ? v.getUint16(0x82, true) * 65536 : 0);
    const computed = hasHi ? crc : crc & 0xffff;
    if (stored !== computed) throw new FsChecksumError(this.name, off, `ext4 inode ${i.ino}`, bn, stored, computed);
  }

  /** The blocks of a file: its extent tree, or the ext2/3 block map; inline data maps none. */
  fileMap(i: Ext4Inode): FileMap {
    const map: FileMap = { extents: [], metaBlocks: [] };
    if ((i.flags & InodeFlag.inlineData) !== 0) return map;
    if (isSymlink(i) && i.size < 60 && (i.flags & InodeFlag.extents) === 0) return map;
    if ((i.flags & InodeFlag.extents) !== 0) this.walkExtents(i, i.iblock, -1, 0, map, MAX_DEPTH + 1, new Set());
    else this.walkBlockMap(i, map);
    return map;
  }

  private walkExtents(i: Ext4Inode, node: Uint8Array, bn: number, _first: number, map: FileMap, depthLeft: number, seen: Set<number>): void {
    const where = bn < 0 ? this.inodeOffset(i.ino) + 0x28 : bn * this.blockSize;
    const what = `ext4 extent ${bn < 0 ? 'root' : 'block'} of inode ${i.ino}`;
    const v = new DataView(node.buffer, node.byteOffset, node.byteLength);
    if (v.getUint16(0, true) !== 0xf30a) this.fail(where, what, `magic 0x${v.getUint16(0, true).toString(16)}, expected 0xf30a`);
    const entries = v.getUint16(2, true);
    const max = v.getUint16(4, true);
    const depth = v.getUint16(6, true);
    const room = Math.floor((node.length - 12) / 12);
    if (max > room || entries > max) this.fail(where, what, `${entries} entries of ${max}, room for ${room}`);
    if (depth >= depthLeft) this.fail(where, what, `depth ${depth}, expected below ${depthLeft} (at most ${MAX_DEPTH} levels)`);
    if (bn >= 0 && this.sb.metadataCsum) {
      const tail = 12 + 12 * max;
      if (tail + 4 <= node.length) {
        const stored = v.getUint32(tail, true);
        const computed = crc32cRaw(this.inodeSeed(i), node.subarray(0, tail));
        if (stored !== computed) throw new FsChecksumError(this.name, where, what, bn, stored, computed);
      }
    }
    for (let k = 0; k < entries; k++) {
      const o = 12 + k * 12;
      if (depth === 0) {
        let len = v.getUint16(o + 4, true);
        const unwritten = len > 32768;
        if (unwritten) len -= 32768;
        const physical = v.getUint32(o + 8, true) + v.getUint16(o + 6, true) * 2 ** 32;
        const logical = v.getUint32(o, true);
        if (len === 0 || physical + len > this.sb.blocksCount)
          this.fail(where + o, what, `extent ${k} maps ${len} blocks at block ${physical}, outside the filesystem's ${this.sb.blocksCount}`);
        map.extents.push({ logical, physical, length: len, unwritten });
      } else {
        const child = v.getUint32(o + 4, true) + v.getUint16(o + 8, true) * 2 ** 32;
        // A node named twice would make a small image map without end.
        if (seen.has(child)) this.fail(where + o, what, `index ${k} names node block ${child} a second time`);
        seen.add(child);
        const blk = this.block(child, what);
        map.metaBlocks.push(child);
        this.walkExtents(i, blk, child, v.getUint32(o, true), map, depth, seen);
      }
    }
  }

  private walkBlockMap(i: Ext4Inode, map: FileMap): void {
    const bs = this.blockSize;
    const per = bs / 4;
    const wanted = Math.ceil(i.size / bs);
    const seen = new Set<number>();
    const v = new DataView(i.iblock.buffer, i.iblock.byteOffset, 60);
    let logical = 0;
    const add = (p: number) => {
      if (p === 0) return;
      if (p >= this.sb.blocksCount)
        this.fail(this.inodeOffset(i.ino), `ext4 block map of inode ${i.ino}`, `block ${p} outside the filesystem's ${this.sb.blocksCount}`);
      const last = map.extents[map.extents.length - 1];
      if (last && last.physical + last.length === p && last.logical + last.length === logical) last.length++;
      else map.extents.push({ logical, physical: p, length: 1, unwritten: false });
    };
    for (let k = 0; k < 12 && logical < wanted; k++, logical++) add(v.getUint32(k * 4, true));
    const walk = (bn: number, level: number) => {
      const span = per ** level;
      if (bn === 0) {
        logical += span;
        return;
      }
      if (seen.has(bn)) this.fail(this.inodeOffset(i.ino), `ext4 block map of inode ${i.ino}`, `indirect block ${bn} named a second time`);
      seen.add(bn);
      const blk = this.block(bn, `ext4 indirect block of inode ${i.ino}`);
      map.metaBlocks.push(bn);
      const bv = new DataView(blk.buffer, blk.byteOffset, blk.byteLength);
      for (let k = 0; k < per && logical < wanted; k++) {
        if (level === 1) {
          add(bv.getUint32(k * 4, true));
          logical++;
        } else walk(bv.getUint32(k * 4, true), level - 1);
      }
    };
    for (let level = 1; level <= 3 && logical < wanted; level++) walk(v.getUint32((11 + level) * 4, true), level);
  }

  /** Logical block -> physical block of a mapped file, or undefined for a hole. */
  static physicalOf(map: FileMap, logical: number): number | undefined {
    for (const e of map.extents) if (logical >= e.logical && logical < e.logical + e.length) return e.physical + (logical - e.logical);
    return undefined;
  }

  /** The in-inode extended attribute "system.data": the rest of an inline file beyond i_block. */
  private inlineXattr(i: Ext4Inode): Uint8Array {
    const start = 0x80 + i.extraIsize;
    if (i.raw.length <= 128 || start + 4 > i.raw.length) return new Uint8Array(0);
    const v = new DataView(i.raw.buffer, i.raw.byteOffset, i.raw.byteLength);
    if (v.getUint32(start, true) !== 0xea020000) return new Uint8Array(0);
    const base = start + 4;
    let o = base;
    while (o + 16 <= i.raw.length) {
      const nameLen = i.raw[o];
      const nameIndex = i.raw[o + 1];
      if (nameLen === 0 && nameIndex === 0 && v.getUint32(o, true) === 0) break;
      const valueOffs = v.getUint16(o + 2, true);
      const valueSize = v.getUint32(o + 8, true);
      const name = textDecoder.decode(i.raw.subarray(o + 16, Math.min(i.raw.length, o + 16 + nameLen)));
      if (nameIndex === 7 && name === 'data') {
        if (base + valueOffs + valueSize > i.raw.length)
          this.fail(this.inodeOffset(i.ino) + o, `ext4 inline data of inode ${i.ino}`, `value of ${valueSize} bytes at ${valueOffs} lies outside the inode`);
        return i.raw.subarray(base + valueOffs, base + valueOffs + valueSize);
      }
      o += (16 + nameLen + 3) & ~3;
    }
    return new Uint8Array(0);
  }

  /** Up to `limit` bytes of a file's content (directories, symlinks): holes read as zeros. */
  readContent(i: Ext4Inode, limit: number): Uint8Array {
    const size = Math.min(i.size, limit);
    if ((i.flags & InodeFlag.inlineData) !== 0) {
      const all = new Uint8Array(Math.min(size, 60 + i.raw.length));
      all.set(i.iblock.subarray(0, Math.min(60, all.length)));
      if (all.length > 60) all.set(this.inlineXattr(i).subarray(0, all.length - 60), 60);
      return all;
    }
    if (isSymlink(i) && i.size < 60 && (i.flags & InodeFlag.extents) === 0) return i.iblock.slice(0, i.size);
    const map = this.fileMap(i);
    const bs = this.blockSize;
    // The caller's limit bounds the buffer, whatever size the inode claims.
    const out = new Uint8Array(size);
    for (const e of map.extents) {
      for (let k = 0; k < e.length; k++) {
        const at = (e.logical + k) * bs;
        if (at >= out.length) break;
        if (e.unwritten) continue;
        const blk = this.block(e.physical + k, `ext4 data of inode ${i.ino}`);
        out.set(blk.subarray(0, Math.min(bs, out.length - at)), at);
      }
    }
    return out;
  }

  /** A symlink's target. */
  symlinkTarget(i: Ext4Inode): string {
    return textDecoder.decode(this.readContent(i, 4096));
  }

  /** A directory's entries, "." and ".." included: linear blocks, htree blocks read as leaves, inline data. */
  dirEntries(i: Ext4Inode): DirEntry[] {
    const cached = this.dirCache.get(i.ino);
    if (cached) return cached;
    if (!isDir(i)) this.fail(this.inodeOffset(i.ino), `ext4 inode ${i.ino}`, 'not a directory');
    const out: DirEntry[] = [];
    const nameLenWide = (this.sb.incompat & Incompat.filetype) === 0;
    const parse = (buf: Uint8Array, block: number, at: number) => {
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let o = 0;
      while (o + 8 <= buf.length) {
        const ino = v.getUint32(o, true);
        let recLen = v.getUint16(o + 4, true);
        if (recLen === 0 || recLen === 65535) recLen = 65536;
        const nameLen = nameLenWide ? v.getUint16(o + 6, true) : buf[o + 6];
        const what = `ext4 directory inode ${i.ino}${block >= 0 ? ` block ${block}` : ' inline data'}`;
        if (recLen < 8 || o + recLen > buf.length || (ino !== 0 && 8 + nameLen > recLen)) {
          this.fail(at + o, what, `entry at ${o} has rec_len ${recLen} and name_len ${nameLen}, beyond its ${buf.length}-byte block`);
        }
        if (ino !== 0 && nameLen > 0) {
          if (ino > this.sb.inodesCount) this.fail(at + o, what, `entry names inode ${ino}, beyond the filesystem's ${this.sb.inodesCount}`);
          out.push({ name: textDecoder.decode(buf.subarray(o + 8, o + 8 + nameLen)), ino, block, fileType: nameLenWide ? 0 : buf[o + 7] });
        }
        o += recLen;
      }
    };
    if ((i.flags & InodeFlag.inlineData) !== 0) {
      const parent = new DataView(i.iblock.buffer, i.iblock.byteOffset, 60).getUint32(0, true);
      out.push({ name: '.', ino: i.ino, block: -1, fileType: 2 }, { name: '..', ino: parent, block: -1, fileType: 2 });
      const at = this.inodeOffset(i.ino);
      parse(i.iblock.subarray(4, 60), -1, at + 0x2c);
      const more = this.inlineXattr(i);
      if (more.length > 0) parse(more, -1, at);
    } else {
      const map = this.fileMap(i);
      const wanted = Math.ceil(i.size / this.blockSize);
      for (const e of map.extents) {
        for (let k = 0; k < e.length && e.logical + k < wanted; k++) {
          if (e.unwritten) continue;
          const bn = e.physical + k;
          parse(this.block(bn, `ext4 directory inode ${i.ino}`), bn, bn * this.blockSize);
        }
      }
    }
    this.dirCache.set(i.ino, out);
    return out;
  }

  /** The path of directory `ino`, walking ".." up to the root (bounded: a loop is an error). */
  dirPath(ino: number): string {
    const parts: string[] = [];
    let cur = ino;
    const seen = new Set<number>();
    while (cur !== 2) {
      if (seen.has(cur) || seen.size > MAX_PATH_DEPTH)
        this.fail(this.inodeOffset(cur), `ext4 directory inode ${ino}`, `its ".." chain loops or is deeper than ${MAX_PATH_DEPTH}`);
      seen.add(cur);
      const entries = this.dirEntries(this.inode(cur));
      const up = entries.find((e) => e.name === '..');
      if (!up) this.fail(this.inodeOffset(cur), `ext4 directory inode ${cur}`, 'no ".." entry');
      const name = this.dirEntries(this.inode(up.ino)).find((e) => e.ino === cur && e.name !== '.' && e.name !== '..');
      if (!name) this.fail(this.inodeOffset(up.ino), `ext4 directory inode ${up.ino}`, `no entry names inode ${cur}, whose ".." points here`);
      parts.unshift(name.name);
      cur = up.ino;
    }
    return `/${parts.join('/')}`;
  }

  /** Every path of inode `ino` (hard links): a walk from the root, bounded by `maxDirs` directories read. */
  findPaths(ino: number, maxDirs = 1 << 20, skipUnreadable = false): string[] {
    if (ino === 2) return ['/'];
    const found: string[] = [];
    const queue: [number, string][] = [[2, '']];
    const seen = new Set<number>([2]);
    while (queue.length > 0) {
      const [d, path] = queue.shift() as [number, string];
      if (seen.size > maxDirs) this.fail(0, `ext4 search for inode ${ino}`, `more than ${maxDirs} directories`);
      let entries: DirEntry[];
      try {
        entries = this.dirEntries(this.inode(d));
      } catch (e) {
        // A directory that cannot be read (its blocks lost, for the doctor) hides only what is under it.
        if (skipUnreadable && e instanceof FsError) continue;
        throw e;
      }
      for (const e of entries) {
        if (e.name === '.' || e.name === '..') continue;
        if (e.ino === ino) found.push(`${path}/${e.name}`);
        // The entry's file type spares reading the inode of every file on the way.
        if (!seen.has(e.ino) && (e.fileType === 2 || e.fileType === 0)) {
          const child = this.inode(e.ino);
          if (isDir(child)) {
            seen.add(e.ino);
            queue.push([e.ino, `${path}/${e.name}`]);
          }
        }
      }
    }
    return found;
  }

  /** The journal's blocks (inode s_journal_inum), for telling journal writes from files'. */
  journalExtents(): Extent[] {
    if (this.journal) return this.journal;
    const inum = this.sb.journalInum;
    this.journal = inum !== 0 && inum <= this.sb.inodesCount ? this.fileMap(this.inode(inum)).extents : [];
    return this.journal;
  }

  /** What block `n` is by the layout: superblock or descriptor copies, bitmaps, inode table, journal, or data. */
  blockRole(n: number): BlockRole {
    const { blocksPerGroup, firstDataBlock } = this.sb;
    if (n < firstDataBlock) return { kind: 'superblock', group: 0 };
    const g = Math.floor((n - firstDataBlock) / blocksPerGroup);
    const inGroup = n - this.groupFirstBlock(g);
    if (g < this.sb.groupCount && this.hasSuper(g)) {
      if (inGroup === 0) return { kind: 'superblock', group: g };
      if ((this.sb.incompat & Incompat.metaBg) === 0 && inGroup <= this.gdtBlocks + this.sb.reservedGdtBlocks) return { kind: 'group-descriptors', group: g };
    }
    const idx = this.layoutIndex();
    const bitmap = idx.bitmaps.get(n);
    if (bitmap) return bitmap;
    // The last inode table starting at or before n (flex_bg packs them anywhere): by bisection.
    let lo = 0;
    let hi = idx.tables.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (idx.tables[mid].inodeTable <= n) lo = mid + 1;
      else hi = mid;
    }
    const d = lo > 0 ? idx.tables[lo - 1] : undefined;
    if (d && n < d.inodeTable + this.inodeTableBlocks) {
      const per = this.blockSize / this.sb.inodeSize;
      const firstIno = d.group * this.sb.inodesPerGroup + (n - d.inodeTable) * per + 1;
      return { kind: 'inode-table', group: d.group, firstIno, lastIno: Math.min(firstIno + per - 1, (d.group + 1) * this.sb.inodesPerGroup) };
    }
    if ((this.sb.incompat & Incompat.metaBg) !== 0) {
      const descBlockIdx = Math.floor(g / this.descPerBlock);
      if (descBlockIdx >= this.sb.firstMetaBg && g % this.descPerBlock <= 1 && inGroup === (this.hasSuper(g) ? 1 : 0))
        return { kind: 'group-descriptors', group: g };
    }
    for (const e of this.journalExtents()) if (n >= e.physical && n < e.physical + e.length) return { kind: 'journal' };
    return { kind: 'data' };
  }

  private layout: { bitmaps: Map<number, BlockRole>; tables: GroupDesc[] } | undefined;

  /** Where every group's bitmaps and inode table lie, indexed once: a diff asks for each changed block. */
  private layoutIndex(): { bitmaps: Map<number, BlockRole>; tables: GroupDesc[] } {
    if (this.layout) return this.layout;
    const bitmaps = new Map<number, BlockRole>();
    for (const d of this.groupDescs()) {
      bitmaps.set(d.blockBitmap, { kind: 'block-bitmap', group: d.group });
      bitmaps.set(d.inodeBitmap, { kind: 'inode-bitmap', group: d.group });
    }
    const tables = [...this.groupDescs()].sort((a, b) => a.inodeTable - b.inodeTable);
    this.layout = { bitmaps, tables };
    return this.layout;
  }

  /** Whether the block bitmap marks block `n` in use (an uninitialised group's bitmap counts nothing). */
  blockInUse(n: number): boolean {
    const g = Math.floor((n - this.sb.firstDataBlock) / this.sb.blocksPerGroup);
    const d = this.groupDescs()[g];
    if (!d) return false;
    if ((d.flags & 0x2) !== 0 && (this.sb.roCompat & (RoCompat.gdtCsum | RoCompat.metadataCsum)) !== 0) return false;
    const bm = this.block(d.blockBitmap, `ext4 block bitmap of group ${g}`);
    const bit = n - this.groupFirstBlock(g);
    return (bm[bit >> 3] & (1 << (bit & 7))) !== 0;
  }
}
