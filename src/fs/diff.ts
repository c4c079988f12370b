/**
 * Which files differ between two states of one filesystem (a snapshot and
 * its origin, an image layer and a container), from the byte ranges that
 * differ between the two devices, as `docker diff` lists them: a path
 * present only after is added, only before deleted, in both with another
 * mode, owner, size or mtime (or other content) changed; every directory
 * above a change is changed; a deleted directory is listed alone, an added
 * one with all it holds. Only what the ranges touch is read: the inode
 * blocks in them, the inodes that changed, their directories, and the
 * directories needed to name them. ext4 and XFS answer the same questions
 * (diff-volume.ts); the rules here are docker diff's, shared by both. A
 * changed block no changed inode explains is given an owner by a search of
 * inodes; XFS searches only the block's own allocation group (without the
 * reverse-mapping btree, more would mean reading every inode), and counts
 * what stays ownerless as unattributed.
 */
import type { ByteSource } from '../io/byte-source.js';
import { detectFilesystem } from './detect.js';
import type { DiffInode, DiffVolume } from './diff-volume.js';
import { isDirMode } from './diff-volume.js';
import { FsError } from './errors.js';
import { Ext4DiffVolume } from './ext4/diff-volume.js';
import { Ext4Volume } from './ext4/volume.js';
import { FsReader } from './reader.js';
import { XfsDiffVolume } from './xfs/diff-volume.js';
import { XfsVolume } from './xfs/volume.js';

export type ChangeKind = 'added' | 'changed' | 'deleted';

export interface FileChange {
  kind: ChangeKind;
  path: string;
  /** The inode the path names after (added, changed) or before (deleted). */
  inode: number;
  /** Undefined on the side where the path did not exist (before for added, after for deleted). */
  sizeBefore?: number;
  sizeAfter?: number;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface FsDiff {
  /** "ext4, 4096-byte blocks, 262144 blocks". */
  filesystem: string;
  changes: FileChange[];
  /** Bytes read from both devices together. */
  bytesRead: number;
  /** Changed blocks in use that no inode claimed (neither a changed inode's nor any other's). */
  unattributedBlocks: number;
}

const isDir = (i: DiffInode) => isDirMode(i.mode);

/** The inode's stat as docker diff compares it: a directory's size and mtime do not count. */
function statDiffers(a: DiffInode, b: DiffInode): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if (isDir(a)) return false;
  return a.size !== b.size || a.mtime !== b.mtime || a.mtimeNsec !== b.mtimeNsec;
}

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export function diffFilesystems(before: ByteSource, after: ByteSource, ranges: ByteRange[]): FsDiff {
  const detected = detectFilesystem(after);
  if (!detected) throw new FsError(after.name, 1024, 'filesystem', 'no ext2/3/4 or XFS superblock: the block-level delta is all there is');
  const ra = new FsReader(before);
  const rb = new FsReader(after);
  const open = (r: FsReader): DiffVolume => (detected.type === 'xfs' ? new XfsDiffVolume(new XfsVolume(r)) : new Ext4DiffVolume(new Ext4Volume(r)));
  const d = new Differ(open(ra), open(rb));
  const unattributed = d.run(ranges);
  return { filesystem: detected.summary, changes: d.result(), bytesRead: ra.bytesRead + rb.bytesRead, unattributedBlocks: unattributed };
}

class Differ {
  private readonly changes = new Map<string, FileChange>();
  /** Inodes whose content changed without their inode: owners of changed data blocks found by search. */
  private readonly contentChanged = new Set<number>();

  constructor(
    readonly before: DiffVolume,
    readonly after: DiffVolume,
  ) {}

  private inodeOr(vol: DiffVolume, ino: number): DiffInode | undefined {
    const i = vol.inode(ino);
    return i.inUse ? i : undefined;
  }

  run(ranges: ByteRange[]): number {
    const bs = this.after.blockSize;
    const total = Math.min(this.before.blockCount, this.after.blockCount);
    const candidates = new Set<number>();
    const data = new Set<number>();
    for (const r of ranges) {
      const first = Math.floor(r.offset / bs);
      const end = Math.min(total, Math.ceil((r.offset + r.length) / bs));
      for (let n = first; n < end; n++) {
        const slots = this.after.inodesIn(n) ?? this.before.inodesIn(n);
        if (slots) this.changedInodes(n, slots, candidates);
        else if (this.after.mayHoldContent(n) && this.before.mayHoldContent(n)) data.add(n);
      }
    }
    // Blocks of the inodes that changed are explained by them.
    for (const ino of candidates) {
      for (const vol of [this.before, this.after]) {
        const i = this.inodeOr(vol, ino);
        if (!i) continue;
        for (const e of vol.blocksOf(i)) for (let k = 0; k < e.length; k++) data.delete(e.start + k);
      }
    }
    // A changed range is as coarse as the pool's blocks: only fs blocks whose bytes differ need an owner.
    const left = [...data].filter(
      (n) =>
        (this.after.blockInUse(n) || this.before.blockInUse(n)) &&
        Buffer.compare(this.before.block(n, `${this.after.kind} data block`), this.after.block(n, `${this.after.kind} data block`)) !== 0,
    );
    const unattributed = left.length > 0 ? this.searchOwners(left, candidates) : 0;
    // Directories first: the entries they gained and lost name most of the other inodes, without a search.
    const sorted = [...candidates].sort((a, b) => a - b);
    const dirs = sorted.filter((ino) => {
      const a = this.inodeOr(this.before, ino);
      const b = this.inodeOr(this.after, ino);
      return a && b && isDir(a) && isDir(b) && a.generation === b.generation;
    });
    for (const ino of dirs) this.inodeChanged(ino);
    for (const ino of sorted) if (!dirs.includes(ino)) this.inodeChanged(ino);
    this.addAncestors();
    return unattributed;
  }

  /** The inodes of block `n` whose bytes differ between the two states. */
  private changedInodes(n: number, slots: { ino: number; offset: number }[], out: Set<number>): void {
    const what = `${this.after.kind} inodes`;
    const a = this.before.block(n, what);
    const b = this.after.block(n, what);
    const size = this.after.inodeSize;
    for (const { ino, offset: o } of slots) if (Buffer.compare(a.subarray(o, o + size), b.subarray(o, o + size)) !== 0) out.add(ino);
  }

  /**
   * Owners of changed blocks no changed inode claims (a directory that
   * gained an entry in an existing block without new times, a file
   * rewritten in place with its mtime kept), searched as icheck would,
   * the blocks' own groups first; returns how many stay without one.
   */
  private searchOwners(blocks: number[], candidates: Set<number>): number {
    let left = blocks;
    for (const vol of [this.after, this.before]) {
      const found = vol.ownersOf(left);
      for (const ino of new Set(found.values())) {
        candidates.add(ino);
        this.contentChanged.add(ino);
      }
      left = left.filter((n) => !found.has(n));
    }
    return left.length;
  }

  private add(c: FileChange): void {
    const had = this.changes.get(c.path);
    // An addition or deletion says more than "changed" of the same path.
    if (!had || (had.kind === 'changed' && c.kind !== 'changed')) this.changes.set(c.path, c);
  }

  private inodeChanged(ino: number): void {
    const a = this.inodeOr(this.before, ino);
    const b = this.inodeOr(this.after, ino);
    if (!a || !b || reused(a, b)) {
      // Created, deleted or reused: its names appear in its directories' entry changes.
      // A path that existed before (under another inode, or this one holding another file) is changed, not added.
      if (b && !this.named(this.after, ino))
        for (const p of this.locate(this.after, b)) {
          const was = this.lookup(p, this.before);
          if (was === undefined) this.addTree(p, ino);
          else this.compareEntry(p, was, ino);
        }
      // A deleted path is listed where its directory is still there (docker diff lists a deleted directory alone).
      if (a && !this.named(this.before, ino))
        for (const p of this.locate(this.before, a))
          if (!this.changes.has(p) && this.lookup(p) === undefined && this.isDirAfter(this.lookup(parentOf(p))))
            this.add({ kind: 'deleted', path: p, inode: ino, sizeBefore: sizeOf(a) });
      return;
    }
    if (isDir(a) && isDir(b)) this.dirChanged(a, b);
    if (statDiffers(a, b) || this.contentChanged.has(ino)) {
      for (const p of this.locate(this.after, b)) this.add({ kind: 'changed', path: p, inode: ino, sizeBefore: sizeOf(a), sizeAfter: sizeOf(b) });
    }
  }

  /** Whether some directory already read names `ino` (its change comes with that entry). */
  private named(vol: DiffVolume, ino: number): boolean {
    return vol === this.after ? this.seenAfter.has(ino) : this.seenBefore.has(ino);
  }
  private readonly seenAfter = new Set<number>();
  private readonly compared = new Set<string>();
  private readonly addedDirs = new Set<number>();
  private readonly seenBefore = new Set<number>();

  /** The entries of a directory present in both states, compared by name. */
  private dirChanged(a: DiffInode, b: DiffInode): void {
    const path = this.after.dirPath(b.ino);
    const old = this.before.dirEntries(a.ino);
    const now = this.after.dirEntries(b.ino);
    for (const [name, ino] of now) {
      // The same number may name another file now: an inode freed and taken again.
      if (old.get(name) !== ino || reused(this.inodeOr(this.before, ino), this.inodeOr(this.after, ino)))
        this.compareEntry(join(path, name), old.get(name), ino);
    }
    for (const [name, ino] of old) if (!now.has(name)) this.compareEntry(join(path, name), ino, undefined);
  }

  /** One path whose entry differs: added, deleted, or naming another inode (changed, and their children compared). */
  private compareEntry(path: string, oldIno: number | undefined, newIno: number | undefined, depth = 0): void {
    if (depth > 4096) throw new FsError(this.after.name, 0, `${this.after.kind} directory ${path}`, 'directories nest deeper than 4096');
    if (newIno !== undefined) this.seenAfter.add(newIno);
    if (oldIno !== undefined) this.seenBefore.add(oldIno);
    if (oldIno === undefined) {
      if (newIno !== undefined) this.addTree(path, newIno);
      return;
    }

    const a = this.before.inode(oldIno);
    if (newIno === undefined) {
      this.add({ kind: 'deleted', path, inode: oldIno, sizeBefore: sizeOf(a) });
      return;
    }
    const b = this.after.inode(newIno);
    this.add({ kind: 'changed', path, inode: newIno, sizeBefore: sizeOf(a), sizeAfter: sizeOf(b) });
    // A directory replaced by a file is one change, as docker diff lists it: what it held is not listed.
    if (!isDir(b)) return;
    // Directories have one name each: one reached twice holds its own ancestor, and would be compared without end.
    const pair = `${oldIno}:${newIno}`;
    if (this.compared.has(pair))
      throw new FsError(
        this.after.name,
        0,
        `${this.after.kind} directory ${path}`,
        `inodes ${oldIno} and ${newIno} are reached twice: the directories form a loop`,
      );
    this.compared.add(pair);
    const old = isDir(a) ? this.before.dirEntries(a.ino) : new Map<string, number>();
    const now = isDir(b) ? this.after.dirEntries(b.ino) : new Map<string, number>();
    for (const [name, ino] of now) {
      const was = old.get(name);
      if (was === ino && !statDiffers(this.before.inode(was), this.after.inode(ino))) continue;
      this.compareEntry(join(path, name), was, ino, depth + 1);
    }
    for (const [name, ino] of old) if (!now.has(name)) this.compareEntry(join(path, name), ino, undefined, depth + 1);
  }

  /** An added path: itself and, for a directory, everything below it. */
  private addTree(path: string, ino: number, depth = 0): void {
    if (depth > 4096) throw new FsError(this.after.name, 0, `${this.after.kind} directory ${path}`, 'directories nest deeper than 4096');
    this.seenAfter.add(ino);
    const i = this.after.inode(ino);
    this.add({ kind: 'added', path, inode: ino, sizeAfter: sizeOf(i) });
    if (!isDir(i)) return;
    if (this.addedDirs.has(ino))
      throw new FsError(this.after.name, 0, `${this.after.kind} directory ${path}`, `directory inode ${ino} is reached twice: the directories form a loop`);
    this.addedDirs.add(ino);
    for (const [name, child] of this.after.dirEntries(ino)) this.addTree(join(path, name), child, depth + 1);
  }

  /**
   * The paths of an inode whose directory did not change: a directory by
   * its ".." chain; a file by the directories already read, then those the
   * volume says lie near it (the allocator keeps files beside their
   * directory), then the whole tree.
   */
  private locate(vol: DiffVolume, i: DiffInode): string[] {
    if (i.ino === vol.rootIno) return [];
    if (isDir(i)) return [vol.dirPath(i.ino)];
    const found: string[] = [];
    for (const dino of vol.nearbyDirs(i.ino)) {
      if (found.length >= i.nlink) break;
      const hits = [...vol.dirEntries(dino)].filter(([, ino]) => ino === i.ino);
      if (hits.length > 0) {
        const p = vol.dirPath(dino);
        for (const [name] of hits) found.push(join(p, name));
      }
    }
    return found.length >= i.nlink ? found : vol.findPaths(i.ino);
  }

  /** Every directory above a change is changed (docker diff lists it), the root aside. */
  private addAncestors(): void {
    for (const c of [...this.changes.values()]) {
      let p = c.path;
      for (let k = p.lastIndexOf('/'); k > 0; k = p.lastIndexOf('/')) {
        p = p.slice(0, k);
        if (this.changes.has(p)) continue;
        const ino = this.lookup(p);
        const was = this.lookup(p, this.before);
        const a = was === undefined ? undefined : this.inodeOr(this.before, was);
        const b = ino === undefined ? undefined : this.inodeOr(this.after, ino);
        this.add({ kind: 'changed', path: p, inode: ino ?? 0, ...(a ? { sizeBefore: sizeOf(a) } : {}), ...(b ? { sizeAfter: sizeOf(b) } : {}) });
      }
    }
  }

  /** Whether inode `ino` is a directory after (a deleted path is listed only where its directory still is one). */
  private isDirAfter(ino: number | undefined): boolean {
    if (ino === undefined) return false;
    const i = this.after.inode(ino);
    return i.inUse && isDir(i);
  }

  /** The inode a path names in `vol` (after, unless told), by its directories (those are read already). */
  private lookup(path: string, vol: DiffVolume = this.after): number | undefined {
    let ino = vol.rootIno;
    for (const name of path.split('/').filter(Boolean)) {
      // A directory of the path may be a file on this side (a directory replaced by a file).
      const dir = vol.inode(ino);
      if (!dir.inUse || !isDir(dir)) return undefined;
      const e = vol.dirEntries(ino).get(name);
      if (e === undefined) return undefined;
      ino = e;
    }
    return ino;
  }

  result(): FileChange[] {
    return dockerOrder([...this.changes.values()]);
  }
}

/**
 * The changes in the order docker diff prints them: go-archive's
 * addChanges walks the new tree depth first, a directory's own line before
 * what it holds, its deleted entries after all it still holds. Siblings
 * come in Go's map order there (random from one run to the next); here in
 * the bytes' order of their names, so that the output is one of the orders
 * Docker can print and the same every time.
 */
export function dockerOrder(changes: FileChange[]): FileChange[] {
  const byPath = new Map(changes.map((c) => [c.path, c]));
  const children = new Map<string, FileChange[]>();
  for (const c of changes) {
    // Every change's directory is listed itself (or is the root): one that is not is placed at the top.
    const parent = byPath.has(parentOf(c.path)) ? parentOf(c.path) : '';
    const list = children.get(parent);
    if (list) list.push(c);
    else children.set(parent, [c]);
  }
  const name = (p: string) => Buffer.from(p.slice(p.lastIndexOf('/') + 1));
  const siblings = (a: FileChange, b: FileChange) => Number(a.kind === 'deleted') - Number(b.kind === 'deleted') || Buffer.compare(name(a.path), name(b.path));
  const out: FileChange[] = [];
  // Depth first with a stack of what is left to emit, last first: no recursion however deep the tree.
  const stack = [...(children.get('') ?? [])].sort(siblings).reverse();
  for (let c = stack.pop(); c; c = stack.pop()) {
    out.push(c);
    const below = children.get(c.path);
    if (below) stack.push(...below.sort(siblings).reverse());
  }
  return out;
}

/** Whether inode number `a`/`b` holds a different file before and after: created, deleted, or freed and taken again. */
function reused(a: DiffInode | undefined, b: DiffInode | undefined): boolean {
  return !a || !b || a.generation !== b.generation || (a.mode & 0o170000) !== (b.mode & 0o170000);
}

const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';

/** The size stat gives (a directory's too: its blocks' bytes). */
function sizeOf(i: DiffInode): number {
  return i.size;
}
