/**
 * One XFS allocation group's own structures, read from its headers: the
 * AGF (free-space btrees by block and by size, the reverse-mapping and
 * reference-count btrees, the free list), the AGI (the inode btree and the
 * free-inode btree) and the AGFL. Walking these small trees tells which of
 * the AG's blocks are free, which hold inodes (and which inodes), and
 * which are the btrees' own nodes. Every pointer is bounded by the AG's
 * size, every node's level by its parent's, and a node named twice is an
 * error (a loop), so a hostile image cannot make the walk run on.
 */
import CRC32C from 'crc-32/crc32c.js';
import { FsChecksumError, FsError } from '../errors.js';
import type { XfsVolume } from './volume.js';

/** One inode chunk record: 64 inodes from `startIno` (AG-relative), some of them holes (sparse chunks). */
export interface InodeChunk {
  startIno: number;
  /** One bit per four inodes that are not allocated (sparse inode chunks); 0 for a full chunk. */
  holeMask: number;
  /** One bit per inode that is free. */
  free: bigint;
}

export interface AgLayout {
  ag: number;
  /** Inode chunks by start, ascending. */
  chunks: InodeChunk[];
  /** Free extents [start, length] in AG blocks, ascending. */
  free: [number, number][];
  /** AG block -> the btree it is a node of ("inode btree", ...), and the free list's blocks. */
  btreeBlocks: Map<number, string>;
  /** The AGI's inode count and the AGF's free blocks, for messages. */
  agLength: number;
}

interface TreeKind {
  name: string;
  magicV5: number;
  magicV4: number;
  recSize: number;
  keySize: number;
}

const TREES = {
  bno: { name: 'free-space btree (by block)', magicV5: 0x41423342, magicV4: 0x41425442, recSize: 8, keySize: 8 },
  cnt: { name: 'free-space btree (by size)', magicV5: 0x41423343, magicV4: 0x41425443, recSize: 8, keySize: 8 },
  rmap: { name: 'reverse-mapping btree', magicV5: 0x524d4233, magicV4: 0, recSize: 24, keySize: 40 },
  refc: { name: 'reference-count btree', magicV5: 0x52334643, magicV4: 0, recSize: 12, keySize: 4 },
  ino: { name: 'inode btree', magicV5: 0x49414233, magicV4: 0x49414254, recSize: 16, keySize: 4 },
  fino: { name: 'free-inode btree', magicV5: 0x46494233, magicV4: 0x46494254, recSize: 16, keySize: 4 },
} satisfies Record<string, TreeKind>;

const MAX_LEVELS = 9;
export const INODES_PER_CHUNK = 64;

/** Reads AG `ag`'s headers and walks its btrees. */
export function readAgLayout(vol: XfsVolume, ag: number): AgLayout {
  const { sectSize, blockSize, agBlocks, dblocks } = vol.sb;
  const agStart = ag * agBlocks;
  const agLength = Math.min(agBlocks, dblocks - agStart);
  const sector = (k: number, what: string): DataView => {
    const at = agStart * blockSize + k * sectSize;
    const b = vol.r.read(at, sectSize, what);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const fail = (at: number, what: string, detail: string): never => {
    throw new FsError(vol.name, at, what, detail);
  };
  const agfAt = agStart * blockSize + sectSize;
  const agiAt = agStart * blockSize + 2 * sectSize;
  const agf = sector(1, `xfs AGF of AG ${ag}`);
  if (agf.getUint32(0) !== 0x58414746) fail(agfAt, `xfs AGF of AG ${ag}`, `magic 0x${agf.getUint32(0).toString(16)}, expected 0x58414746 (XAGF)`);
  if (agf.getUint32(8) !== ag) fail(agfAt + 8, `xfs AGF of AG ${ag}`, `records itself as AG ${agf.getUint32(8)}`);
  const agi = sector(2, `xfs AGI of AG ${ag}`);
  if (agi.getUint32(0) !== 0x58414749) fail(agiAt, `xfs AGI of AG ${ag}`, `magic 0x${agi.getUint32(0).toString(16)}, expected 0x58414749 (XAGI)`);
  if (agi.getUint32(8) !== ag) fail(agiAt + 8, `xfs AGI of AG ${ag}`, `records itself as AG ${agi.getUint32(8)}`);

  const btreeBlocks = new Map<number, string>();
  const seen = new Set<number>();
  const hdr = vol.sb.v5 ? 56 : 16;

  /** Visits every record of one btree, depth first; each node's level must be one below its parent's. */
  const walk = (kind: TreeKind, root: number, levels: number, at: number, onRecord: (v: DataView, o: number) => void): void => {
    const what = `xfs ${kind.name} of AG ${ag}`;
    if (levels === 0 || levels > MAX_LEVELS) fail(at, what, `${levels} levels, expected 1..${MAX_LEVELS}`);
    const visit = (agb: number, level: number, from: number): void => {
      if (agb === 0 || agb >= agLength) fail(from, what, `node at AG block ${agb}, outside the AG's ${agLength} blocks`);
      if (seen.has(agb)) fail(from, what, `AG block ${agb} named a second time`);
      seen.add(agb);
      btreeBlocks.set(agb, `${kind.name} of AG ${ag}`);
      const n = agStart + agb;
      const b = vol.block(n, what);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const off = n * blockSize;
      const magic = v.getUint32(0);
      const want = vol.sb.v5 ? kind.magicV5 : kind.magicV4;
      if (magic !== want) fail(off, what, `magic 0x${magic.toString(16)}, expected 0x${want.toString(16)}`);
      if (vol.sb.v5) {
        const copy = b.slice();
        copy.fill(0, 52, 56);
        const computed = CRC32C.buf(copy) >>> 0;
        const stored = v.getUint32(52, true);
        if (stored !== computed) throw new FsChecksumError(vol.name, off, what, n, stored, computed);
      }
      if (v.getUint16(4) !== level) fail(off + 4, what, `level ${v.getUint16(4)}, expected ${level}`);
      const numrecs = v.getUint16(6);
      if (level === 0) {
        const max = Math.floor((blockSize - hdr) / kind.recSize);
        if (numrecs > max) fail(off + 6, what, `${numrecs} records, room for ${max}`);
        for (let k = 0; k < numrecs; k++) onRecord(v, hdr + k * kind.recSize);
        return;
      }
      const max = Math.floor((blockSize - hdr) / (kind.keySize + 4));
      if (numrecs > max) fail(off + 6, what, `${numrecs} pointers, room for ${max}`);
      for (let k = 0; k < numrecs; k++) visit(v.getUint32(hdr + max * kind.keySize + k * 4), level - 1, off + hdr + max * kind.keySize + k * 4);
    };
    visit(root, levels - 1, at);
  };

  const free: [number, number][] = [];
  walk(TREES.bno, agf.getUint32(16), agf.getUint32(28), agfAt + 16, (v, o) => {
    const start = v.getUint32(o);
    const len = v.getUint32(o + 4);
    if (start + len > agLength) fail(agfAt, `xfs free-space btree of AG ${ag}`, `free extent ${start}+${len} beyond the AG's ${agLength} blocks`);
    free.push([start, len]);
  });
  free.sort((a, b) => a[0] - b[0]);
  walk(TREES.cnt, agf.getUint32(20), agf.getUint32(32), agfAt + 20, () => {});
  const roCompat = vol.sb.v5 ? vol.sb.roCompat : 0;
  // rmapbt (ro_compat bit 1) and reflink (bit 2): their trees' nodes are the AG's own blocks too.
  if ((roCompat & 0x2) !== 0) walk(TREES.rmap, agf.getUint32(24), agf.getUint32(36), agfAt + 24, () => {});
  if ((roCompat & 0x4) !== 0) walk(TREES.refc, agf.getUint32(88), agf.getUint32(92), agfAt + 88, () => {});

  const sparse = vol.sb.v5 && (vol.sb.incompat & 0x2) !== 0;
  const chunks: InodeChunk[] = [];
  walk(TREES.ino, agi.getUint32(20), agi.getUint32(24), agiAt + 20, (v, o) => {
    const startIno = v.getUint32(o);
    const holeMask = sparse ? v.getUint16(o + 4) : 0;
    const inodesPerAg = agLength * 2 ** vol.sb.inoPbLog;
    if (startIno >= inodesPerAg) fail(agiAt, `xfs inode btree of AG ${ag}`, `chunk at AG inode ${startIno}, beyond the AG's ${inodesPerAg} inodes`);
    chunks.push({ startIno, holeMask, free: v.getBigUint64(o + 8) });
  });
  chunks.sort((a, b) => a.startIno - b.startIno);
  if ((roCompat & 0x1) !== 0) walk(TREES.fino, agi.getUint32(328), agi.getUint32(332), agiAt + 328, () => {});

  // The free list: blocks held back for the btrees' growth (a circular list, first..last).
  const agfl = vol.r.read(agStart * blockSize + 3 * sectSize, sectSize, `xfs AGFL of AG ${ag}`);
  const fl = new DataView(agfl.buffer, agfl.byteOffset, agfl.byteLength);
  const flHdr = vol.sb.v5 ? 36 : 0;
  const flSize = Math.floor((sectSize - flHdr) / 4);
  const flFirst = agf.getUint32(40);
  const flCount = agf.getUint32(48);
  if (flCount > flSize || flFirst >= flSize) fail(agfAt + 40, `xfs AGF of AG ${ag}`, `free list of ${flCount} from slot ${flFirst}, room for ${flSize}`);
  for (let k = 0; k < flCount; k++) {
    const agb = fl.getUint32(flHdr + ((flFirst + k) % flSize) * 4);
    if (agb < agLength) btreeBlocks.set(agb, `free list of AG ${ag} (held for its btrees)`);
  }
  return { ag, chunks, free, btreeBlocks, agLength };
}

/** The chunk holding AG inode `agino` (and not as a hole), or undefined. */
export function chunkOf(layout: AgLayout, agino: number): InodeChunk | undefined {
  let lo = 0;
  let hi = layout.chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (layout.chunks[mid].startIno <= agino) lo = mid + 1;
    else hi = mid;
  }
  const c = layout.chunks[lo - 1];
  if (!c || agino >= c.startIno + INODES_PER_CHUNK) return undefined;
  const k = agino - c.startIno;
  return (c.holeMask & (1 << (k >> 2))) !== 0 ? undefined : c;
}

/** Whether AG block `agb` is free by the free-space btree. */
export function isFree(layout: AgLayout, agb: number): boolean {
  let lo = 0;
  let hi = layout.free.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (layout.free[mid][0] <= agb) lo = mid + 1;
    else hi = mid;
  }
  const f = layout.free[lo - 1];
  return f !== undefined && agb < f[0] + f[1];
}
