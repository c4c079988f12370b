/**
 * An XFS filesystem read on demand (big-endian throughout): the superblock,
 * inodes by number (v5 CRCs verified), data forks as extent lists or
 * btrees, directories in short form, block, leaf and node form (their data
 * blocks read as a list of entries), symlinks, and a directory's path by
 * its ".." entries. Every number is bounded by the superblock and the
 * device; damage gives an FsError naming the inode, block and byte.
 */
import CRC32C from 'crc-32/crc32c.js';
import { FsChecksumError, FsError } from '../errors.js';
import type { FsReader } from '../reader.js';

export interface XfsSuperblock {
  blockSize: number;
  dblocks: number;
  agBlocks: number;
  agCount: number;
  agBlkLog: number;
  inodeSize: number;
  inoPbLog: number;
  sectSize: number;
  rootIno: number;
  dirBlkLog: number;
  v5: boolean;
  ftype: boolean;
  nrext64: boolean;
  /** v5 feature bits (0 on v4): read-only compatible (finobt, rmapbt, reflink) and incompatible (ftype, sparse inodes). */
  roCompat: number;
  incompat: number;
  /** The internal log's first filesystem block (0 for an external log) and its length. */
  logStart: number;
  logBlocks: number;
}

export interface XfsInode {
  ino: number;
  mode: number;
  format: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  generation: number;
  nextents: number;
  /** The data fork's bytes within the inode. */
  dataFork: Uint8Array;
  raw: Uint8Array;
}

export interface XfsExtent {
  logical: number;
  /** Device block (AG-relative start turned into a linear block). */
  physical: number;
  length: number;
  unwritten: boolean;
}

export interface XfsDirEntry {
  name: string;
  ino: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const FMT_LOCAL = 1;
const FMT_EXTENTS = 2;
const FMT_BTREE = 3;
const dec = new TextDecoder('utf-8');

export function xfsIsDir(i: XfsInode): boolean {
  return (i.mode & S_IFMT) === S_IFDIR;
}

export class XfsVolume {
  readonly sb: XfsSuperblock;

  constructor(readonly r: FsReader) {
    this.sb = this.readSuperblock();
  }

  get name(): string {
    return this.r.name;
  }

  private fail(offset: number, structure: string, detail: string): never {
    throw new FsError(this.name, offset, structure, detail);
  }

  private readSuperblock(): XfsSuperblock {
    const what = 'xfs superblock';
    const b = this.r.read(0, 512, what);
    const v = new DataView(b.buffer, b.byteOffset, 512);
    if (v.getUint32(0) !== 0x58465342) this.fail(0, what, `magic 0x${v.getUint32(0).toString(16)}, expected 0x58465342 (XFSB)`);
    const blockSize = v.getUint32(4);
    const dblocks = Number(v.getBigUint64(8));
    const agBlocks = v.getUint32(84);
    const agCount = v.getUint32(88);
    const sectSize = v.getUint16(102);
    const inodeSize = v.getUint16(104);
    const agBlkLog = b[124];
    const inoPbLog = b[123];
    const v5 = (v.getUint16(100) & 0xf) === 5;
    const incompat = v5 ? v.getUint32(216) : 0;
    if (blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0)
      this.fail(4, what, `block size ${blockSize}, expected a power of two 512..65536`);
    if (sectSize < 512 || sectSize > blockSize) this.fail(102, what, `sector size ${sectSize}, expected 512..${blockSize}`);
    if (inodeSize < 256 || inodeSize > 2048 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0)
      this.fail(104, what, `inode size ${inodeSize}, expected a power of two 256..2048`);
    if (blockSize / inodeSize !== 2 ** inoPbLog) this.fail(123, what, `inodes per block log ${inoPbLog} does not match ${blockSize}/${inodeSize}`);
    if (agBlocks === 0 || agBlkLog > 31 || agBlocks > 2 ** agBlkLog) this.fail(84, what, `${agBlocks} blocks per AG with log ${agBlkLog}`);
    const deviceBlocks = Math.floor(this.r.size / blockSize);
    if (dblocks === 0 || dblocks > deviceBlocks) this.fail(8, what, `${dblocks} blocks, the device holds ${deviceBlocks} of ${blockSize} bytes`);
    if (agCount === 0 || (agCount - 1) * agBlocks >= dblocks) this.fail(88, what, `${agCount} AGs of ${agBlocks} blocks, ${dblocks} blocks in all`);
    if (v5) {
      const copy = this.r.read(0, sectSize, what);
      const stored = new DataView(copy.buffer).getUint32(224, true);
      copy.fill(0, 224, 228);
      const computed = CRC32C.buf(copy) >>> 0;
      if (stored !== computed) throw new FsChecksumError(this.name, 0, what, 0, stored, computed);
    }
    return {
      blockSize,
      dblocks,
      agBlocks,
      agCount,
      agBlkLog,
      inodeSize,
      inoPbLog,
      sectSize,
      rootIno: Number(v.getBigUint64(56)),
      dirBlkLog: b[192],
      v5,
      ftype: v5 ? (incompat & 0x1) !== 0 : (v.getUint32(200) & 0x200) !== 0,
      nrext64: (incompat & 0x20) !== 0,
      roCompat: v5 ? v.getUint32(212) : 0,
      incompat,
      logStart: Number(v.getBigUint64(48)),
      logBlocks: v.getUint32(96),
    };
  }

  /** A filesystem block number (AG number and AG block packed) as a linear block on the device. */
  linear(fsb: number, what: string, at: number): number {
    const ag = Math.floor(fsb / 2 ** this.sb.agBlkLog);
    const agb = fsb % 2 ** this.sb.agBlkLog;
    if (ag >= this.sb.agCount || agb >= this.sb.agBlocks)
      this.fail(at, what, `block ${ag}/${agb} (AG/block) outside ${this.sb.agCount} AGs of ${this.sb.agBlocks}`);
    const n = ag * this.sb.agBlocks + agb;
    if (n >= this.sb.dblocks) this.fail(at, what, `block ${n} beyond the filesystem's ${this.sb.dblocks}`);
    return n;
  }

  /** `linear`, or undefined where the number lies outside the filesystem. */
  linearOrUndefined(fsb: number): number | undefined {
    const ag = Math.floor(fsb / 2 ** this.sb.agBlkLog);
    const agb = fsb % 2 ** this.sb.agBlkLog;
    const n = ag * this.sb.agBlocks + agb;
    return ag < this.sb.agCount && agb < this.sb.agBlocks && n < this.sb.dblocks ? n : undefined;
  }

  block(n: number, what: string): Uint8Array {
    if (n < 0 || n >= this.sb.dblocks) this.fail(n * this.sb.blockSize, what, `block ${n} beyond the filesystem's ${this.sb.dblocks}`);
    return this.r.block(n, this.sb.blockSize, what);
  }

  inodeOffset(ino: number): number {
    const { agBlkLog, inoPbLog, agBlocks, blockSize, inodeSize } = this.sb;
    const perAg = 2 ** (agBlkLog + inoPbLog);
    const ag = Math.floor(ino / perAg);
    const inAg = ino % perAg;
    const agb = Math.floor(inAg / 2 ** inoPbLog);
    const slot = inAg % 2 ** inoPbLog;
    if (!Number.isSafeInteger(ino) || ag >= this.sb.agCount || agb >= agBlocks)
      this.fail(0, `xfs inode ${ino}`, `its number points outside ${this.sb.agCount} AGs of ${agBlocks} blocks`);
    return (ag * agBlocks + agb) * blockSize + slot * inodeSize;
  }

  inode(ino: number): XfsInode {
    const off = this.inodeOffset(ino);
    const bs = this.sb.blockSize;
    const bn = Math.floor(off / bs);
    const blk = this.block(bn, `xfs inode ${ino}`);
    const raw = blk.subarray(off % bs, (off % bs) + this.sb.inodeSize);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const what = `xfs inode ${ino}`;
    if (v.getUint16(0) !== 0x494e) this.fail(off, what, `magic 0x${v.getUint16(0).toString(16)}, expected 0x494e (IN)`);
    const version = raw[4];
    if (this.sb.v5) {
      if (version !== 3) this.fail(off + 4, what, `version ${version}, expected 3 on a v5 filesystem`);
      const copy = raw.slice();
      copy.fill(0, 100, 104);
      const computed = CRC32C.buf(copy) >>> 0;
      const stored = v.getUint32(100, true);
      if (stored !== computed) throw new FsChecksumError(this.name, off, what, bn, stored, computed);
      const self = Number(v.getBigUint64(152));
      if (self !== ino) this.fail(off + 152, what, `records itself as inode ${self}`);
    }
    const core = version === 3 ? 176 : 100;
    const forkOff = raw[82];
    const dataEnd = forkOff === 0 ? raw.length : core + forkOff * 8;
    if (dataEnd > raw.length || dataEnd < core)
      this.fail(off + 82, what, `attribute fork at ${forkOff * 8}, outside the inode's ${raw.length - core}-byte literal area`);
    const nextents = this.sb.nrext64 && version === 3 ? Number(v.getBigUint64(24)) : v.getUint32(76);
    return {
      ino,
      mode: v.getUint16(2),
      format: raw[5],
      uid: v.getUint32(8),
      gid: v.getUint32(12),
      nlink: v.getUint32(16),
      size: Number(v.getBigUint64(56)),
      mtime: v.getUint32(40),
      mtimeNsec: v.getUint32(44),
      generation: v.getUint32(92),
      nextents,
      dataFork: raw.subarray(core, dataEnd),
      raw,
    };
  }

  /** The data fork's extents: the list in the inode, or the leaves of its btree (whose blocks go to `nodes` when given). */
  extents(i: XfsInode, nodes?: number[]): XfsExtent[] {
    const at = this.inodeOffset(i.ino);
    if (i.format === FMT_EXTENTS) {
      if (i.nextents * 16 > i.dataFork.length) this.fail(at + 76, `xfs inode ${i.ino}`, `${i.nextents} extents, room for ${i.dataFork.length / 16}`);
      return this.records(i.dataFork, 0, i.nextents, at);
    }
    if (i.format !== FMT_BTREE) return [];
    const f = i.dataFork;
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const level = v.getUint16(0);
    const numrecs = v.getUint16(2);
    const maxrecs = Math.floor((f.length - 4) / 16);
    if (numrecs > maxrecs || level === 0 || level > 9)
      this.fail(at, `xfs bmap btree root of inode ${i.ino}`, `level ${level} with ${numrecs} of ${maxrecs} records`);
    const out: XfsExtent[] = [];
    const seen = new Set<number>();
    for (let k = 0; k < numrecs; k++) this.bmbtNode(i, Number(v.getBigUint64(4 + maxrecs * 8 + k * 8)), level - 1, out, seen, at);
    nodes?.push(...seen);
    return out;
  }

  private bmbtNode(i: XfsInode, fsb: number, level: number, out: XfsExtent[], seen: Set<number>, at: number): void {
    const what = `xfs bmap btree block of inode ${i.ino}`;
    const n = this.linear(fsb, what, at);
    if (seen.has(n)) this.fail(n * this.sb.blockSize, what, `block ${n} named a second time`);
    seen.add(n);
    const b = this.block(n, what);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const magic = v.getUint32(0);
    const hdr = this.sb.v5 ? 72 : 24;
    if (magic !== (this.sb.v5 ? 0x424d4133 : 0x424d4150))
      this.fail(n * this.sb.blockSize, what, `magic 0x${magic.toString(16)}, expected ${this.sb.v5 ? 'BMA3' : 'BMAP'}`);
    if (this.sb.v5) {
      const copy = b.slice();
      copy.fill(0, 64, 68);
      const computed = CRC32C.buf(copy) >>> 0;
      const stored = v.getUint32(64, true);
      if (stored !== computed) throw new FsChecksumError(this.name, n * this.sb.blockSize, what, n, stored, computed);
    }
    if (v.getUint16(4) !== level) this.fail(n * this.sb.blockSize + 4, what, `level ${v.getUint16(4)}, expected ${level}`);
    const numrecs = v.getUint16(6);
    const maxrecs = Math.floor((b.length - hdr) / 16);
    if (numrecs > maxrecs) this.fail(n * this.sb.blockSize + 6, what, `${numrecs} records, room for ${maxrecs}`);
    if (level === 0) {
      out.push(...this.records(b, hdr, numrecs, n * this.sb.blockSize));
      return;
    }
    for (let k = 0; k < numrecs; k++) this.bmbtNode(i, Number(v.getBigUint64(hdr + maxrecs * 8 + k * 8)), level - 1, out, seen, n * this.sb.blockSize);
  }

  /** Packed 128-bit extent records: unwritten flag, 54-bit file offset, 52-bit block, 21-bit length. */
  private records(b: Uint8Array, from: number, count: number, at: number): XfsExtent[] {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const out: XfsExtent[] = [];
    for (let k = 0; k < count; k++) {
      const l0 = v.getBigUint64(from + k * 16);
      const l1 = v.getBigUint64(from + k * 16 + 8);
      const logical = Number((l0 & 0x7fffffffffffffffn) >> 9n);
      const fsb = Number(((l0 & 0x1ffn) << 43n) | (l1 >> 21n));
      const length = Number(l1 & 0x1fffffn);
      const physical = this.linear(fsb, 'xfs extent', at + from + k * 16);
      if (physical + length > this.sb.dblocks)
        this.fail(at + from + k * 16, 'xfs extent', `${length} blocks at ${physical}, beyond the filesystem's ${this.sb.dblocks}`);
      out.push({ logical, physical, length, unwritten: l0 >> 63n === 1n });
    }
    return out;
  }

  /** Up to `limit` bytes of a file (a symlink's target, a directory's blocks): inline or mapped, holes as zeros. */
  readContent(i: XfsInode, limit: number): Uint8Array {
    const size = Math.min(i.size, limit);
    if (i.format === FMT_LOCAL) return i.dataFork.slice(0, Math.min(size, i.dataFork.length));
    const out = new Uint8Array(size);
    const bs = this.sb.blockSize;
    for (const e of this.extents(i)) {
      for (let k = 0; k < e.length && (e.logical + k) * bs < size; k++) {
        if (e.unwritten) continue;
        const at = (e.logical + k) * bs;
        const blk = this.block(e.physical + k, `xfs data of inode ${i.ino}`);
        out.set(blk.subarray(0, Math.min(bs, size - at)), at);
      }
    }
    return out;
  }

  symlinkTarget(i: XfsInode): string {
    if ((i.mode & S_IFMT) !== S_IFLNK) this.fail(this.inodeOffset(i.ino), `xfs inode ${i.ino}`, 'not a symlink');
    if (i.format === FMT_LOCAL) return dec.decode(i.dataFork.subarray(0, Math.min(i.size, i.dataFork.length)));
    // v5 remote symlink blocks start with a 56-byte header ("XSLM").
    const raw = this.readContent(i, i.size + (this.sb.v5 ? 56 : 0));
    return dec.decode(this.sb.v5 ? raw.subarray(56, 56 + i.size) : raw.subarray(0, i.size));
  }

  private readonly dirCache = new Map<number, XfsDirEntry[]>();

  /** A directory's entries, "." and ".." included (kept: paths ask for the same directories again and again). */
  dirEntries(i: XfsInode): XfsDirEntry[] {
    const hit = this.dirCache.get(i.ino);
    if (hit) return hit;
    const out = this.readDirEntries(i);
    this.dirCache.set(i.ino, out);
    return out;
  }

  private readDirEntries(i: XfsInode): XfsDirEntry[] {
    const at = this.inodeOffset(i.ino);
    if (!xfsIsDir(i)) this.fail(at, `xfs inode ${i.ino}`, 'not a directory');
    if (i.format === FMT_LOCAL) return this.shortform(i, at);
    const dirBlk = this.sb.blockSize * 2 ** this.sb.dirBlkLog;
    const fsbPerDirBlk = 2 ** this.sb.dirBlkLog;
    // Data blocks lie below the leaf offset (32 GiB into the directory); leaf and free-index blocks above it.
    const leafOffset = 2 ** 35 / this.sb.blockSize;
    const out: XfsDirEntry[] = [];
    const blocks = new Map<number, number>();
    // The data blocks lie below the directory's size: a mapping past it (damage) is not read.
    const dataEnd = Math.min(leafOffset, Math.ceil(i.size / this.sb.blockSize));
    for (const e of this.extents(i)) for (let k = 0; k < e.length && e.logical + k < dataEnd; k++) blocks.set(e.logical + k, e.physical + k);
    const single = i.size <= dirBlk;
    for (const [logical] of [...blocks].sort((a, b) => a[0] - b[0])) {
      if (logical % fsbPerDirBlk !== 0) continue;
      const buf = new Uint8Array(dirBlk);
      for (let k = 0; k < fsbPerDirBlk; k++) {
        const p = blocks.get(logical + k);
        if (p !== undefined) buf.set(this.block(p, `xfs directory inode ${i.ino}`), k * this.sb.blockSize);
      }
      const first = blocks.get(logical) as number;
      this.dataBlock(i, buf, first * this.sb.blockSize, single, out);
    }
    return out;
  }

  private shortform(i: XfsInode, at: number): XfsDirEntry[] {
    const f = i.dataFork;
    const what = `xfs short-form directory inode ${i.ino}`;
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const count = f[0];
    const wide = f[1] > 0;
    const isz = wide ? 8 : 4;
    const num = (o: number) => (wide ? Number(v.getBigUint64(o)) : v.getUint32(o));
    if (2 + isz > f.length) this.fail(at, what, 'header beyond the data fork');
    const out: XfsDirEntry[] = [
      { name: '.', ino: i.ino },
      { name: '..', ino: num(2) },
    ];
    let o = 2 + isz;
    for (let k = 0; k < count; k++) {
      const nl = f[o];
      const end = o + 3 + nl + (this.sb.ftype ? 1 : 0) + isz;
      if (nl === 0 || end > f.length) this.fail(at + o, what, `entry ${k} of ${nl}-byte name runs past the ${f.length}-byte fork`);
      out.push({ name: dec.decode(f.subarray(o + 3, o + 3 + nl)), ino: num(end - isz) });
      o = end;
    }
    return out;
  }

  private dataBlock(i: XfsInode, b: Uint8Array, at: number, single: boolean, out: XfsDirEntry[]): void {
    const what = `xfs directory inode ${i.ino} block at byte ${at}`;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const magic = v.getUint32(0);
    const blockForm = magic === 0x58444233 || magic === 0x58443242; // XDB3, XD2B
    const dataForm = magic === 0x58444433 || magic === 0x58443244; // XDD3, XD2D
    if (!blockForm && !dataForm) this.fail(at, what, `magic 0x${magic.toString(16)}, expected a directory data block (XDB3/XDD3/XD2B/XD2D)`);
    if (single && !blockForm) this.fail(at, what, 'a one-block directory without the block form');
    if (this.sb.v5) {
      const copy = b.slice();
      copy.fill(0, 4, 8);
      const computed = CRC32C.buf(copy) >>> 0;
      const stored = v.getUint32(4, true);
      if (stored !== computed) throw new FsChecksumError(this.name, at, what, Math.floor(at / this.sb.blockSize), stored, computed);
    }
    const hdr = this.sb.v5 ? 64 : 16;
    let end = b.length;
    if (blockForm) {
      const count = v.getUint32(b.length - 8);
      end = b.length - 8 - count * 8;
      if (end < hdr) this.fail(at + b.length - 8, what, `${count} leaf entries, more than the block holds`);
    }
    let o = hdr;
    while (o + 8 <= end) {
      if (v.getUint16(o) === 0xffff) {
        const len = v.getUint16(o + 2);
        if (len < 8 || len % 8 !== 0 || o + len > end) this.fail(at + o, what, `free space of ${len} bytes at ${o}, expected a multiple of 8 within the block`);
        o += len;
        continue;
      }
      const ino = Number(v.getBigUint64(o));
      const nl = b[o + 8];
      const len = (8 + 1 + nl + (this.sb.ftype ? 1 : 0) + 2 + 7) & ~7;
      if (nl === 0 || o + len > end) this.fail(at + o, what, `entry at ${o} with a ${nl}-byte name runs past its block`);
      out.push({ name: dec.decode(b.subarray(o + 9, o + 9 + nl)), ino });
      o += len;
    }
  }

  /** A directory's path by its ".." entries, bounded. */
  dirPath(ino: number): string {
    const parts: string[] = [];
    let cur = ino;
    const seen = new Set<number>();
    while (cur !== this.sb.rootIno) {
      if (seen.has(cur) || seen.size > 4096) this.fail(this.inodeOffset(cur), `xfs directory inode ${ino}`, 'its ".." chain loops or is deeper than 4096');
      seen.add(cur);
      const up = this.dirEntries(this.inode(cur)).find((e) => e.name === '..');
      if (!up) this.fail(this.inodeOffset(cur), `xfs directory inode ${cur}`, 'no ".." entry');
      const me = this.dirEntries(this.inode(up.ino)).find((e) => e.ino === cur && e.name !== '.' && e.name !== '..');
      if (!me) this.fail(this.inodeOffset(up.ino), `xfs directory inode ${up.ino}`, `no entry names inode ${cur}, whose ".." points here`);
      parts.unshift(me.name);
      cur = up.ino;
    }
    return `/${parts.join('/')}`;
  }
}
