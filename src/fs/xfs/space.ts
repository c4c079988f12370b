/**
 * What each block of an XFS filesystem is, by its AG's headers and btrees
 * (ag.ts), read once per AG and only for the AGs asked about: the AG
 * headers, the internal log, the btrees' nodes and free list, inode chunks
 * (and which inodes), free space, or content (a file's or directory's).
 */
import { FsError } from '../errors.js';
import { type AgLayout, chunkOf, INODES_PER_CHUNK, isFree, readAgLayout } from './ag.js';
import type { XfsVolume } from './volume.js';

export type XfsBlockRole =
  | { kind: 'headers'; ag: number }
  | { kind: 'log' }
  | { kind: 'btree'; name: string }
  | { kind: 'inodes'; ag: number; first: number; last: number; slots: { ino: number; offset: number }[] }
  | { kind: 'free' }
  | { kind: 'content' };

export class XfsSpace {
  private readonly layouts = new Map<number, AgLayout>();
  private logFirst: number | undefined;

  constructor(readonly vol: XfsVolume) {}

  /** AG `ag`'s layout, read once; an AG that cannot be read fails the same way each time it is asked, without reading again. */
  layout(ag: number): AgLayout {
    let l = this.layouts.get(ag);
    if (!l) {
      const failed = this.failures.get(ag);
      if (failed) throw failed;
      try {
        l = readAgLayout(this.vol, ag);
      } catch (e) {
        if (e instanceof FsError) this.failures.set(ag, e);
        throw e;
      }
      this.layouts.set(ag, l);
    }
    return l;
  }
  private readonly failures = new Map<number, FsError>();

  /** The inode number of AG inode `agino` in AG `ag`. */
  ino(ag: number, agino: number): number {
    return ag * 2 ** (this.vol.sb.agBlkLog + this.vol.sb.inoPbLog) + agino;
  }

  /** Whether inode `ino` lies in an allocated chunk (not a hole); only such slots hold inodes. */
  allocated(ino: number): boolean {
    const { agBlkLog, inoPbLog, agCount } = this.vol.sb;
    const perAg = 2 ** (agBlkLog + inoPbLog);
    const ag = Math.floor(ino / perAg);
    if (!Number.isSafeInteger(ino) || ag >= agCount) return false;
    return chunkOf(this.layout(ag), ino % perAg) !== undefined;
  }

  role(n: number): XfsBlockRole {
    const { agBlocks, sectSize, blockSize, logStart, logBlocks, inoPbLog } = this.vol.sb;
    const ag = Math.floor(n / agBlocks);
    const agb = n % agBlocks;
    // The four header sectors (superblock, AGF, AGI, AGFL) open every AG.
    if (agb * blockSize < 4 * sectSize) return { kind: 'headers', ag };
    if (logStart !== 0 && logBlocks > 0) {
      this.logFirst ??= this.vol.linearOrUndefined(logStart) ?? -1;
      if (this.logFirst >= 0 && n >= this.logFirst && n < this.logFirst + logBlocks) return { kind: 'log' };
    }
    const l = this.layout(ag);
    const bt = l.btreeBlocks.get(agb);
    if (bt) return { kind: 'btree', name: bt };
    // Free space is most of a filesystem's blocks: told before the inode slots are counted.
    if (isFree(l, agb)) return { kind: 'free' };
    const perBlock = 2 ** inoPbLog;
    let slots: { ino: number; offset: number }[] | undefined;
    for (let k = 0; k < perBlock; k++) {
      const agino = agb * perBlock + k;
      if (chunkOf(l, agino)) (slots ??= []).push({ ino: this.ino(ag, agino), offset: k * this.vol.sb.inodeSize });
    }
    if (slots) return { kind: 'inodes', ag, first: slots[0].ino, last: slots[slots.length - 1].ino, slots };
    return { kind: 'content' };
  }

  /** The inodes AG `ag`'s inode btree marks in use, in order (for owner searches). */
  *chunkInodes(ag: number): Iterable<number> {
    for (const c of this.layout(ag).chunks) {
      for (let k = 0; k < INODES_PER_CHUNK; k++) {
        if ((c.holeMask & (1 << (k >> 2))) !== 0) continue;
        if ((c.free & (1n << BigInt(k))) !== 0n) continue;
        yield this.ino(ag, c.startIno + k);
      }
    }
  }
}
