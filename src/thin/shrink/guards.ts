/**
 * What stops a shrink from harming what it was not meant to touch (the
 * first new-user trial lost data three ways):
 * - the cut journal: a data file is cut only by the run that committed
 *   the smaller metadata, or by a re-run that finds that run's record
 *   beside the data file; metadata that merely says a smaller size (another
 *   pool's, given by mistake) never cuts a file;
 * - the data file must look like this pool's: when every mapped block
 *   sampled reads as zeros, it is another (a fresh file of the right size);
 * - deleted devices that can still be brought back are named, and a
 *   shrink (which writes over their blocks and their trees) needs
 *   --forget-deleted.
 */
import { closeSync, fsyncSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../../errors.js';
import { errnoWords } from '../../io/files.js';
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { isZero } from '../../io/full-io.js';
import { scanDeleted } from '../recover/scan-deleted.js';

/** Where a run records, before its commit, that the data file is to be cut. */
export function journalPath(dataPath: string): string {
  return `${dataPath}.dmthin-shrink`;
}

interface Journal {
  metadata: string;
  data: string;
  newNrBlocks: number;
  blockBytes: number;
}

const identity = (path: string): string => {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
};

/** Written and synced before the metadata commit: a re-run after the commit may then cut the data file. */
export function writeJournal(metadataPath: string, dataPath: string, newNrBlocks: number, blockBytes: number): void {
  const j: Journal = { metadata: identity(metadataPath), data: identity(dataPath), newNrBlocks, blockBytes };
  const path = journalPath(dataPath);
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
  } catch (e) {
    throw new UsageError(`cannot write ${path}, the record that lets a re-run finish an interrupted shrink: ${errnoWords(e)}`);
  }
  try {
    writeSync(fd, JSON.stringify(j));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** The record beside `dataPath`, when it is of this metadata and data (the same files, by device and inode). */
function recordOf(metadataPath: string, dataPath: string): Journal | undefined {
  try {
    const j = JSON.parse(readFileSync(journalPath(dataPath), 'utf8')) as Journal;
    return j.metadata === identity(metadataPath) && j.data === identity(dataPath) ? j : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the record beside `dataPath` says this metadata and data were being shrunk to `newNrBlocks`. */
export function journalSays(metadataPath: string, dataPath: string, newNrBlocks: number, blockBytes: number): boolean {
  const j = recordOf(metadataPath, dataPath);
  return j !== undefined && j.newNrBlocks === newNrBlocks && j.blockBytes === blockBytes;
}

/**
 * The cut an interrupted shrink of this metadata and data recorded, committed
 * (the metadata's `committedNrBlocks` is its size) and did not make, in
 * bytes; undefined when none is recorded, or the run stopped before its
 * commit (the pool is as it was).
 */
export function pendingCut(metadataPath: string, dataPath: string, committedNrBlocks: number): number | undefined {
  const j = recordOf(metadataPath, dataPath);
  if (j === undefined || j.newNrBlocks !== committedNrBlocks) return undefined;
  const bytes = j.newNrBlocks * j.blockBytes;
  try {
    return statSync(dataPath).size > bytes ? bytes : undefined;
  } catch {
    return undefined;
  }
}

export function removeJournal(dataPath: string): void {
  rmSync(journalPath(dataPath), { force: true });
}

/**
 * Refuses a data file in which every sampled mapped block reads as zeros
 * (`sample`: the plan's few mapped data blocks spread over the device,
 * plan.ts sampleMapped): the pool's own data file holds what its devices
 * wrote. `allowZeros` is the user's word that the pool's data really is
 * zeros.
 */
export function refuseStrangerData(data: ByteSource, sample: readonly number[], blockBytes: number, allowZeros: boolean): void {
  if (allowZeros) return;
  const buf = new Uint8Array(Math.min(blockBytes, 1 << 20));
  let read = 0;
  for (const b of sample) {
    const at = b * blockBytes;
    if (at >= data.size) continue;
    const part = buf.subarray(0, Math.min(buf.length, data.size - at));
    data.readAt(part, at);
    read++;
    if (!isZero(part, part.length)) return;
  }
  if (read === 0) return;
  throw new UsageError(
    `${data.name} reads as zeros at all ${read} mapped data blocks sampled: is it this pool's data file? (moving blocks of another file would lose the pool's data); if the pool's data really is zeros, give --data-may-be-zeros`,
  );
}

/** How a caller names deleted devices and the way to bring one back, in its own words (an LVM pool: the removed LV's name). */
export interface DeletedWords {
  /** What the command does that loses them ("a shrink writes over their blocks and trees"). */
  loses: string;
  /** The way to bring one back (default: dmthin export --deleted). */
  bringBack?: string;
  /** A device's name beside its id ("vgfs/gone"), when known. */
  nameOf?: (devId: number) => string | undefined;
}

/** Refuses when deleted devices can still be brought back, unless the user said to forget them. */
export function refuseRecoverableDeleted(reader: BlockReader, forget: boolean, words: DeletedWords): void {
  if (forget) return;
  const found = scanDeleted(reader).devices.filter((d) => d.counts.intact + d.counts.shared > 0);
  if (found.length === 0) return;
  const list = found
    .map((d) => {
      const name = words.nameOf?.(d.devId);
      return `thin ${d.devId}${name ? ` (${name})` : ''}, ${d.counts.intact + d.counts.shared} blocks`;
    })
    .join('; ');
  throw new UsageError(
    `${found.length} deleted thin device${found.length === 1 ? '' : 's'} can still be brought back: ${list}; ${words.loses}. Bring back what you need first (${words.bringBack ?? 'dmthin export --deleted ID, docs/recovery.md'}), then run again with --forget-deleted`,
  );
}
