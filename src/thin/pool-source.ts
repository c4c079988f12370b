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
import type { ByteSource } from '../io/byte-source.js';
import { Metadata, type OpenOptions } from './metadata.js';

export type PoolSourceKind = 'files' | 'lvm' | 'docker' | 'live';

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

/** Metadata (and data) files or devices named by the user: nothing is opened until a reader opens it. */
export function filesSource(metadata: string, data?: string): PoolSource {
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
