/**
 * A pool source: the one thing every thin verb (check, dump, ls, rmap,
 * delta, report, repair, export, and the commands built on them) takes,
 * whatever holds the pool: metadata and data files or devices named on
 * the command line (here), a pool inside LVM disk images
 * (lvm/open-pool.ts), a Docker root (docker/pool-source.ts), or a live
 * pool read through a held metadata snapshot (driver/pool-source.ts).
 * It says what it is, whether the kernel runs it, what may be written,
 * and gives the metadata and data to read.
 *
 * ```ts
 * const src = filesSource('tmeta.bin', 'tdata.bin');
 * const md = openMetadata(src);
 * try { console.log(md.devices().length); } finally { md.close(); src.close(); }
 * ```
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { FOREIGN_HEAD_BYTES, foreignContent } from '../format/foreign.js';
import type { ByteSource } from '../io/byte-source.js';
import { BlockReader } from '../io/block-reader.js';
import { hasSuperblockMagic } from '../format/superblock.js';
import { Metadata, type OpenOptions } from './metadata.js';

export type PoolSourceKind = 'files' | 'lvm' | 'docker' | 'containerd' | 'live';

export interface PoolSource {
  readonly kind: PoolSourceKind;
  /** The pool, for messages: the metadata path, VG/POOL, Docker's pool name, the live pool's dm name. */
  readonly name: string;
  /** What Metadata.open and check read: a path, or the bytes in place (an LV in images). */
  readonly metadata: string | ByteSource;
  /** The pool's data device, when it is known and whole. */
  readonly data?: string | ByteSource;
  /** Why the data is not whole (a PV missing, an image short): what is read is the metadata only. */
  readonly dataProblem?: string;
  /**
   * The pool's dm name when the kernel runs it: metadata read in place is
   * as last committed and may change under the reader (unless
   * `metadataSnap` is set: then it is read at a snapshot the kernel holds).
   */
  readonly running?: string;
  /** The held metadata snapshot's block every read must go through (a live pool). */
  readonly metadataSnap?: number;
  /** Every file read: no output may be one of them. */
  readonly files: readonly string[];
  /** Whether its metadata may be written (check --auto-repair, --clear-needs-check-flag): only a file or device the user named. */
  readonly writable: boolean;
  /** The command that rebuilds its metadata into NEW, for advice in messages. */
  readonly repairCommand: string;
  /** The command that diagnoses it (what is lost, what to do), for the message of a reader that meets damage. */
  readonly doctorCommand?: string;
  close(): void;
}

/**
 * Metadata (and data) files or devices named by the user: nothing is opened
 * until a reader opens it, but for a look at the metadata's first 8 KiB
 * that refuses a PV, a disk or a filesystem given in its place.
 */
export function filesSource(metadata: string, data?: string): PoolSource {
  refuseForeign(metadata, 'metadata');
  return {
    kind: 'files',
    name: metadata,
    metadata,
    data,
    files: data === undefined ? [metadata] : [metadata, data],
    writable: true,
    repairCommand: `dmthin repair -i ${metadata} -o NEW`,
    doctorCommand: `dmthin doctor --metadata ${metadata}${data === undefined ? '' : ` --data ${data}`}`,
    close: () => {},
  };
}

/**
 * The source's metadata, opened: at the held snapshot a live source reads
 * through unless `options.metadataSnap` names another view.
 */
export function openMetadata(source: PoolSource, options: OpenOptions = {}): Metadata {
  const snap = options.metadataSnap === undefined || options.metadataSnap === false ? source.metadataSnap : options.metadataSnap;
  return Metadata.open(source.metadata, { ...options, metadataSnap: snap });
}

/** The name a message gives the metadata itself: its path, or the ByteSource's name. */
export function metadataName(source: PoolSource): string {
  return typeof source.metadata === 'string' ? source.metadata : source.metadata.name;
}

/**
 * Refuses a file given as pool metadata that plainly holds something else
 * (an LVM PV, a partitioned disk, a filesystem: format/foreign.ts), naming
 * it and the command that reads it. A file that cannot be opened is left
 * to the reader, which says why.
 */
export function refuseForeign(path: string, option: string): void {
  let head: Uint8Array;
  try {
    // Only a file or a disk: opening a FIFO would wait for a writer.
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) return;
    const fd = openSync(path, 'r');
    try {
      head = new Uint8Array(FOREIGN_HEAD_BYTES);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return;
  }
  const what = foreignContent(head, path);
  if (what) throw new ArgumentError(`${option} ${path} is not pool metadata: it is ${what}`);
}

/** Whether block 0 of `metadata` carries the thin superblock's magic (false when it cannot be read). */
export function superblockMagicAt0(metadata: string | ByteSource): boolean {
  try {
    const reader = new BlockReader(metadata);
    try {
      return reader.nrBlocks > 0 && hasSuperblockMagic(reader.read(0));
    } finally {
      reader.close();
    }
  } catch {
    return false;
  }
}
