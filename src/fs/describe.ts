/**
 * What lies in a byte range of a filesystem, for the ranges a damaged pool
 * lost: the filesystem's own structures (superblock, group descriptors,
 * bitmaps, inode table for inodes N..M, journal) or the files and
 * directories whose blocks they are, by path and inode, or free space.
 * Owners are found as icheck finds them, from the inodes, searching the
 * groups of the range first (the allocator keeps a file's blocks there).
 * XFS is named by its AGs' headers and btrees (xfs/describe.ts): AG
 * headers, the log, btree nodes, inodes a..b, free space, content.
 */
import type { ByteSource } from '../io/byte-source.js';
import { detectFilesystem } from './detect.js';
import { FsError } from './errors.js';
import { isDir } from './ext4/inode.js';
import { ownersOf } from './ext4/owners.js';
import { type BlockRole, Ext4Volume } from './ext4/volume.js';
import { FsReader } from './reader.js';
import { XfsDiffVolume } from './xfs/diff-volume.js';
import { describeXfsBlocks } from './xfs/describe.js';
import { XfsVolume } from './xfs/volume.js';

export interface RangePart {
  /** Bytes on the device. */
  offset: number;
  length: number;
  /**
   * ext4: "superblock", "group descriptors", "block bitmap of group 3", "inode table of group 0 (inodes 1..16)", "journal";
   * XFS: "AG 0 headers (superblock, AGF, AGI, AGFL)", "log", "inode btree of AG 1", "inodes 128..191";
   * both: "file", "directory", "free space", "unknown owner".
   */
  structure: string;
  /** For file and directory blocks: who owns them. */
  owners?: { inode: number; path?: string }[];
}

export interface RangeDescription {
  filesystem: string;
  parts: RangePart[];
  bytesRead: number;
}

/** At most this many blocks are described one by one; a longer range is cut there (said in its last part). */
const MAX_BLOCKS = 1 << 20;

export function describeRanges(src: ByteSource, ranges: { offset: number; length: number }[]): RangeDescription {
  const d = detectFilesystem(src);
  if (!d) throw new FsError(src.name, 1024, 'filesystem', 'no ext2/3/4 or XFS superblock: only the byte range can be named');
  const r = new FsReader(src);
  if (d.type === 'xfs') return { filesystem: d.summary, parts: describeXfs(new XfsVolume(r), ranges), bytesRead: r.bytesRead };
  const vol = new Ext4Volume(r);
  const bs = vol.blockSize;
  const parts: RangePart[] = [];
  const blocks: number[] = [];
  for (const x of ranges) {
    const first = Math.floor(x.offset / bs);
    const end = Math.min(vol.sb.blocksCount, Math.ceil((x.offset + x.length) / bs));
    for (let n = first; n < end && blocks.length < MAX_BLOCKS; n++) blocks.push(n);
  }
  const roles = blocks.map((n) => ({ n, role: vol.blockRole(n) }));
  const dataBlocks = roles.filter((x) => x.role.kind === 'data').map((x) => x.n);
  const owners = ownersOf(vol, dataBlocks);
  const paths = new Map<number, string | undefined>();
  const pathOf = (ino: number): string | undefined => {
    if (!paths.has(ino)) {
      try {
        const i = vol.inode(ino);
        paths.set(ino, isDir(i) ? vol.dirPath(ino) : vol.findPaths(ino, undefined, true)[0]);
      } catch (e) {
        if (!(e instanceof FsError)) throw e;
        paths.set(ino, undefined);
      }
    }
    return paths.get(ino);
  };
  for (const { n, role } of roles) {
    let structure = name(role);
    let own: { inode: number; path?: string }[] | undefined;
    if (role.kind === 'data') {
      const o = owners.get(n);
      if (o) {
        const i = vol.inode(o);
        structure = isDir(i) ? 'directory' : 'file';
        own = [{ inode: o, path: pathOf(o) }];
      } else structure = vol.blockInUse(n) ? 'unknown owner' : 'free space';
    }
    const last = parts[parts.length - 1];
    // Consecutive inode table blocks of one group are one part: inodes first..last.
    if (role.kind === 'inode-table' && last && last.offset + last.length === n * bs) {
      const m = /^inode table of group (\d+) \(inodes (\d+)\.\.\d+\)$/.exec(last.structure);
      if (m && Number(m[1]) === role.group) {
        last.length += bs;
        last.structure = `inode table of group ${role.group} (inodes ${m[2]}..${role.lastIno})`;
        continue;
      }
    }
    const key = JSON.stringify([structure, own]);
    if (last && last.offset + last.length === n * bs && JSON.stringify([last.structure, last.owners]) === key) last.length += bs;
    else parts.push({ offset: n * bs, length: bs, structure, ...(own ? { owners: own } : {}) });
  }
  return { filesystem: d.summary, parts, bytesRead: r.bytesRead };
}

function describeXfs(vol: XfsVolume, ranges: { offset: number; length: number }[]): RangePart[] {
  const bs = vol.sb.blockSize;
  const blocks: number[] = [];
  for (const x of ranges) {
    const first = Math.floor(x.offset / bs);
    const end = Math.min(vol.sb.dblocks, Math.ceil((x.offset + x.length) / bs));
    for (let n = first; n < end && blocks.length < MAX_BLOCKS; n++) blocks.push(n);
  }
  const described = describeXfsBlocks(new XfsDiffVolume(vol), blocks);
  const parts: RangePart[] = [];
  let lastInodes: { first: number; last: number } | undefined;
  blocks.forEach((n, k) => {
    const b = described[k];
    const last = parts[parts.length - 1];
    const adjacent = last !== undefined && last.offset + last.length === n * bs;
    // Neighbouring inode blocks are one part: inodes first..last.
    if (adjacent && b.inodes && lastInodes) {
      last.length += bs;
      lastInodes.last = b.inodes.last;
      last.structure = `inodes ${lastInodes.first}..${lastInodes.last}`;
      return;
    }
    if (adjacent && !b.inodes && !lastInodes && last.structure === b.structure && sameOwners(last.owners, b.owners)) {
      last.length += bs;
      return;
    }
    parts.push({ offset: n * bs, length: bs, structure: b.structure, ...(b.owners ? { owners: b.owners } : {}) });
    lastInodes = b.inodes ? { ...b.inodes } : undefined;
  });
  return parts;
}

function sameOwners(a: RangePart['owners'], b: RangePart['owners']): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((o, k) => o.inode === b[k].inode && o.path === b[k].path);
}

function name(role: BlockRole): string {
  switch (role.kind) {
    case 'superblock':
      return role.group === 0 ? 'superblock' : `superblock copy in group ${role.group}`;
    case 'group-descriptors':
      return role.group === 0 ? 'group descriptors' : `group descriptors copy in group ${role.group}`;
    case 'block-bitmap':
      return `block bitmap of group ${role.group}`;
    case 'inode-bitmap':
      return `inode bitmap of group ${role.group}`;
    case 'inode-table':
      return `inode table of group ${role.group} (inodes ${role.firstIno}..${role.lastIno})`;
    case 'journal':
      return 'journal';
    case 'data':
      return 'data';
  }
}
