/**
 * What the file-level diff asks of a filesystem, whichever it is: inodes
 * by number (the stat docker diff compares), directories' entries, the
 * inodes a block holds, the blocks a file maps, and who owns a block. Each
 * reader (ext4/diff-volume.ts, xfs/diff-volume.ts) answers from its own
 * structures, reading only what the question needs.
 */

/** The stat of one inode, as docker diff compares it. */
export interface DiffInode {
  ino: number;
  /** Whether the inode holds a file (a mode and a link); a free one still has its old bytes. */
  inUse: boolean;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** Changes when the number is freed and taken again (with the file type, how reuse is told). */
  generation: number;
  mtime: number;
  mtimeNsec: number;
}

/** A run of device blocks. */
export interface BlockRun {
  start: number;
  length: number;
}

export interface DiffVolume {
  readonly name: string;
  /** "ext4" or "xfs", for messages. */
  readonly kind: string;
  readonly blockSize: number;
  /** Blocks of the filesystem (bounds every block number). */
  readonly blockCount: number;
  readonly rootIno: number;
  readonly inodeSize: number;
  block(n: number, what: string): Uint8Array;
  inode(ino: number): DiffInode;
  /** A directory's entries by name ("." and ".." left out). */
  dirEntries(ino: number): Map<string, number>;
  /** A directory's path by its ".." chain. */
  dirPath(ino: number): string;
  /** Every path of `ino`, by a walk from the root (the last resort). */
  findPaths(ino: number): string[];
  /** The directories to search first for a file's names, nearest first (the allocator keeps files near their directory). */
  nearbyDirs(ino: number): Iterable<number>;
  /** The inodes the diff compares in block `n` and their byte offsets in it, or undefined when `n` holds no inodes. */
  inodesIn(n: number): { ino: number; offset: number }[] | undefined;
  /** Whether block `n` may hold a file's or directory's content (not the filesystem's own structures). */
  mayHoldContent(n: number): boolean;
  blockInUse(n: number): boolean;
  /** The blocks an inode maps: its content and the blocks of its mapping. */
  blocksOf(i: DiffInode): BlockRun[];
  /** The inode that owns each block, for those it can find; the rest stay unattributed. */
  ownersOf(blocks: number[]): Map<number, number>;
}

export function isDirMode(mode: number): boolean {
  return (mode & 0o170000) === 0o040000;
}
