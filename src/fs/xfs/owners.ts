/**
 * Which XFS inode maps a block, found as icheck would: from the in-use
 * inodes' data forks (their extents and bmap btree blocks), searching the
 * inode chunks of the blocks' own AGs first (XFS puts a file's blocks in
 * its inode's AG while there is room) and stopping when every block has
 * its owner. Without the reverse-mapping btree there is no cheaper way;
 * `ownAgsOnly` stops after the blocks' own AGs, for callers that would
 * rather leave a block unattributed than read every inode.
 */
import { FsError } from '../errors.js';
import type { XfsSpace } from './space.js';
import { lowerBound } from '../sorted.js';

export function xfsOwnersOf(space: XfsSpace, blocks: number[], ownAgsOnly = false): Map<number, number> {
  const vol = space.vol;
  const sorted = [...new Set(blocks)].sort((a, b) => a - b);
  const out = new Map<number, number>();
  if (sorted.length === 0) return out;
  const near = [...new Set(sorted.map((n) => Math.floor(n / vol.sb.agBlocks)))];
  const all = Array.from({ length: vol.sb.agCount }, (_, k) => k);
  const order = ownAgsOnly ? near : [...near, ...all.filter((g) => !near.includes(g))];
  const claim = (start: number, length: number, ino: number) => {
    for (let j = lowerBound(sorted, start); j < sorted.length && sorted[j] < start + length; j++) out.set(sorted[j], ino);
  };
  for (const ag of order) {
    if (out.size === sorted.length) break;
    let inodes: Iterable<number>;
    try {
      inodes = [...space.chunkInodes(ag)];
    } catch (e) {
      // An AG whose inode btree cannot be read names no owners; the others still can.
      if (e instanceof FsError) continue;
      throw e;
    }
    for (const ino of inodes) {
      if (out.size === sorted.length) break;
      try {
        const i = vol.inode(ino);
        if (i.mode === 0) continue;
        const nodes: number[] = [];
        for (const e of vol.extents(i, nodes)) claim(e.physical, e.length, ino);
        for (const b of nodes) claim(b, 1, ino);
      } catch (e) {
        // A damaged inode owns nothing we can name.
        if (e instanceof FsError) continue;
        throw e;
      }
    }
  }
  return out;
}
