/**
 * What an XFS block is, for the ranges a damaged pool lost: an AG's header
 * sectors (superblock, AGF, AGI, AGFL), the log, a node of one of the AG's
 * btrees or its free list, inodes a..b, free space, or a file's or
 * directory's content named by inode and path. Roles come from the AG's
 * headers and btrees (space.ts), owners from the in-use inodes (owners.ts),
 * never from the lost blocks' own bytes: those are gone.
 */
import { FsError } from '../errors.js';
import { xfsOwnersOf } from './owners.js';
import type { XfsDiffVolume } from './diff-volume.js';
import type { XfsBlockRole } from './space.js';
import { xfsIsDir } from './volume.js';

export interface BlockDescription {
  structure: string;
  owners?: { inode: number; path?: string }[];
  /** For inode blocks: the inodes it holds, so that neighbours merge into "inodes a..b". */
  inodes?: { first: number; last: number };
}

export function describeXfsBlocks(dv: XfsDiffVolume, blocks: number[]): BlockDescription[] {
  const { space, vol } = dv;
  const roles = blocks.map((n): XfsBlockRole | { kind: 'unreadable'; detail: string } => {
    try {
      return space.role(n);
    } catch (e) {
      // A lost AG header or btree node leaves the AG's roles unknown, not the others'.
      if (!(e instanceof FsError)) throw e;
      return { kind: 'unreadable', detail: e.message };
    }
  });
  // Where an AG's own trees are lost, its blocks may still be named by inodes elsewhere that map them.
  const content = blocks.filter((_, k) => roles[k].kind === 'content' || roles[k].kind === 'unreadable');
  const owners = xfsOwnersOf(space, content);
  const paths = new Map<number, { path?: string; dir: boolean }>();
  const named = (ino: number): { path?: string; dir: boolean } => {
    let p = paths.get(ino);
    if (!p) {
      p = { dir: false };
      try {
        const i = vol.inode(ino);
        p.dir = xfsIsDir(i);
        p.path = p.dir ? vol.dirPath(ino) : dv.findPaths(ino, true)[0];
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
      }
      paths.set(ino, p);
    }
    return p;
  };
  return blocks.map((n, k): BlockDescription => {
    const role = roles[k];
    switch (role.kind) {
      case 'headers':
        return { structure: headers(dv, n, role.ag) };
      case 'log':
        return { structure: 'log' };
      case 'btree':
        return { structure: role.name };
      case 'inodes':
        return { structure: `inodes ${role.first}..${role.last}`, inodes: { first: role.first, last: role.last } };
      case 'free':
        return { structure: 'free space' };
    }
    const o = owners.get(n);
    if (o === undefined) return { structure: role.kind === 'unreadable' ? `unknown: ${role.detail}` : 'unknown owner' };
    const p = named(o);
    return { structure: p.dir ? 'directory' : 'file', owners: [{ inode: o, ...(p.path ? { path: p.path } : {}) }] };
  });
}

/** Which of the AG's four header sectors lie in block `n`: "superblock, AGF, AGI, AGFL" (a copy of the superblock outside AG 0). */
function headers(dv: XfsDiffVolume, n: number, ag: number): string {
  const { blockSize, sectSize, agBlocks } = dv.vol.sb;
  const names = [ag === 0 ? 'superblock' : 'superblock copy', 'AGF', 'AGI', 'AGFL'];
  const agb = n - ag * agBlocks;
  const held = names.filter((_, s) => s * sectSize >= agb * blockSize && s * sectSize < (agb + 1) * blockSize);
  return `AG ${ag} headers (${held.join(', ')})`;
}
