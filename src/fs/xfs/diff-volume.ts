/**
 * The XFS reader as the file-level diff sees it (src/fs/diff-volume.ts):
 * inode chunks and free space by each AG's btrees (space.ts), a file's
 * names searched in its own AG's directories first (XFS creates a file's
 * inode in its directory's AG), owners of changed content searched among
 * the inodes of that content's AG only: XFS without parent pointers or the
 * reverse-mapping btree names a block's owner only by reading inodes, and
 * the diff reads no more than the AGs the changes lie in.
 */
import type { BlockRun, DiffInode, DiffVolume } from '../diff-volume.js';
import { FsError } from '../errors.js';
import { xfsOwnersOf } from './owners.js';
import { type XfsBlockRole, XfsSpace } from './space.js';
import { type XfsVolume, xfsIsDir } from './volume.js';

/** A walk from the root reads at most this many directories. */
const MAX_DIRS = 1 << 20;

export class XfsDiffVolume implements DiffVolume {
  readonly kind = 'xfs';
  readonly space: XfsSpace;
  private readonly entries = new Map<number, Map<string, number>>();

  constructor(readonly vol: XfsVolume) {
    this.space = new XfsSpace(vol);
  }

  get name(): string {
    return this.vol.name;
  }
  get blockSize(): number {
    return this.vol.sb.blockSize;
  }
  get blockCount(): number {
    return this.vol.sb.dblocks;
  }
  get rootIno(): number {
    return this.vol.sb.rootIno;
  }
  get inodeSize(): number {
    return this.vol.sb.inodeSize;
  }

  block(n: number, what: string): Uint8Array {
    return this.vol.block(n, what);
  }

  inode(ino: number): DiffInode {
    // A slot outside every allocated chunk holds no inode (its bytes may be anything).
    if (!this.space.allocated(ino)) return { ino, inUse: false, mode: 0, uid: 0, gid: 0, size: 0, nlink: 0, generation: 0, mtime: 0, mtimeNsec: 0 };
    const i = this.vol.inode(ino);
    return {
      ino,
      inUse: i.mode !== 0 && i.nlink > 0,
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      size: i.size,
      nlink: i.nlink,
      generation: i.generation,
      mtime: i.mtime,
      mtimeNsec: i.mtimeNsec,
    };
  }

  dirEntries(ino: number): Map<string, number> {
    let m = this.entries.get(ino);
    if (!m) {
      m = new Map<string, number>();
      for (const e of this.vol.dirEntries(this.vol.inode(ino))) if (e.name !== '.' && e.name !== '..') m.set(e.name, e.ino);
      this.entries.set(ino, m);
    }
    return m;
  }

  dirPath(ino: number): string {
    return this.vol.dirPath(ino);
  }

  /** `skipUnreadable`: a directory that cannot be read (its blocks lost, for the doctor) hides only what is under it. */
  findPaths(ino: number, skipUnreadable = false): string[] {
    const root = this.rootIno;
    if (ino === root) return ['/'];
    const found: string[] = [];
    const queue: [number, string][] = [[root, '']];
    const seen = new Set<number>([root]);
    for (let q = 0; q < queue.length; q++) {
      const [d, path] = queue[q];
      if (seen.size > MAX_DIRS) throw new FsError(this.name, 0, `xfs search for inode ${ino}`, `more than ${MAX_DIRS} directories`);
      let entries: Map<string, number>;
      try {
        entries = this.dirEntries(d);
      } catch (e) {
        if (skipUnreadable && e instanceof FsError) continue;
        throw e;
      }
      for (const [name, child] of entries) {
        if (child === ino) found.push(`${path}/${name}`);
        if (seen.has(child)) continue;
        let c: DiffInode;
        try {
          c = this.inode(child);
        } catch (e) {
          if (skipUnreadable && e instanceof FsError) continue;
          throw e;
        }
        if (c.inUse && (c.mode & 0o170000) === 0o040000) {
          seen.add(child);
          queue.push([child, `${path}/${name}`]);
        }
      }
    }
    return found;
  }

  /** The directories among the in-use inodes of the file's own AG, nearest inode number first. */
  *nearbyDirs(ino: number): Iterable<number> {
    const perAg = 2 ** (this.vol.sb.agBlkLog + this.vol.sb.inoPbLog);
    const ag = Math.floor(ino / perAg);
    if (ag >= this.vol.sb.agCount) return;
    const inodes = [...this.space.chunkInodes(ag)].sort((a, b) => Math.abs(a - ino) - Math.abs(b - ino));
    for (const d of inodes) {
      const i = this.vol.inode(d);
      if (i.mode !== 0 && xfsIsDir(i)) yield d;
    }
  }

  /** The diff asks several questions of each block in turn: the last answer is kept. */
  private role(n: number): XfsBlockRole {
    if (this.lastRole?.n !== n) this.lastRole = { n, role: this.space.role(n) };
    return this.lastRole.role;
  }
  private lastRole: { n: number; role: XfsBlockRole } | undefined;

  inodesIn(n: number): { ino: number; offset: number }[] | undefined {
    const role = this.role(n);
    return role.kind === 'inodes' ? role.slots : undefined;
  }

  mayHoldContent(n: number): boolean {
    const kind = this.role(n).kind;
    return kind === 'content' || kind === 'free';
  }

  blockInUse(n: number): boolean {
    return this.role(n).kind !== 'free';
  }

  blocksOf(i: DiffInode): BlockRun[] {
    const nodes: number[] = [];
    const runs = this.vol.extents(this.vol.inode(i.ino), nodes).map((e) => ({ start: e.physical, length: e.length }));
    return [...runs, ...nodes.map((b) => ({ start: b, length: 1 }))];
  }

  ownersOf(blocks: number[]): Map<number, number> {
    return xfsOwnersOf(this.space, blocks, true);
  }
}
