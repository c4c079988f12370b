/**
 * `dmthin metadata resize`: the same pool metadata put into a metadata
 * device of another size, larger (a pool that ran out of metadata space)
 * or smaller (one that was made far too large). The metadata is dumped
 * straight into the MetadataBuilder restore and repair write through (one
 * stream, nothing held but the builder's counts): every device, mapping,
 * time and superblock field is kept; only the metadata's own block count,
 * its space maps and the trees' block numbers change. As with restore, the
 * output (which exists, sized by the user) is written only once the whole
 * metadata is built, its superblock last.
 *
 * Refused, nothing written: metadata check finds errors in, or marked
 * needs_check (a rebuild would carry the damage over or hide it: the
 * doctor first); a held metadata snapshot (a rebuild cannot keep it); a
 * pool the kernel runs; an output smaller than the metadata needs (its
 * smallest size is said).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { UsageError, must } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { MAX_METADATA_BLOCKS } from '../../format/index-entry.js';
import { NEEDS_CHECK_FLAG, SUPERBLOCK_MAGIC, hasSuperblockMagic } from '../../format/superblock.js';
import { FileSource } from '../../io/byte-source.js';
import { check } from '../check/check.js';
import { dump } from '../dump/dump.js';
import { type DeletedWords, refuseRecoverableDeleted } from '../shrink/guards.js';
import type { Metadata } from '../metadata.js';
import { type PoolSource, metadataName, openMetadata, superblockMagicAt0 } from '../pool-source.js';
import { type BuildResult, MetadataBuilder, MetadataTooSmallError } from '../restore/metadata-builder.js';

export interface ResizeResult extends BuildResult {
  /** The input's metadata blocks (its superblock's metadata_nr_blocks). */
  fromNrBlocks: number;
  /** Bytes of the output past the metadata's last block: the kernel never uses more than MAX_METADATA_BLOCKS (about 16 GiB). */
  unusedBytes: number;
}

export interface ResizeOptions {
  /** The user's word that deleted devices that could still be brought back need not be carried over (the copy cannot hold them). */
  forgetDeleted?: boolean;
  /** How the caller names deleted devices and brings one back (an LVM pool: by the removed LV's name). */
  deletedWords?: Omit<DeletedWords, 'loses'>;
}

/** Puts the metadata of `source` into `output` (an existing file or device whose size is the new metadata size). */
export function resizeMetadata(source: PoolSource, output: string, options: ResizeOptions = {}): ResizeResult {
  const name = metadataName(source);
  if (source.running)
    throw new UsageError(`the kernel runs ${source.name} (${source.running}): its metadata changes while it is read; deactivate the pool first`);
  const checked = check(source.metadata);
  const fatal = checked.findings.filter((f) => f.severity === 'fatal');
  if (!checked.ok || fatal.length > 0) {
    if (!superblockMagicAt0(source.metadata))
      throw new UsageError(
        `${name} is not pool metadata: block 0 holds no thin superblock (magic ${SUPERBLOCK_MAGIC}); give the pool's metadata device or file. If it is the metadata and its superblock was destroyed, run ${source.doctorCommand ?? `dmthin doctor --metadata ${name}`}`,
      );
    throw new UsageError(
      `${name} has errors (${fatal.length ? fatal[0].message : 'check failed'}${fatal.length > 1 ? `, and ${fatal.length - 1} more` : ''}): a resize would carry them over; run ${source.doctorCommand ?? `dmthin doctor --metadata ${name}`} first`,
    );
  }
  const md = openMetadata(source);
  try {
    const sb = md.superblock;
    if (sb.flags & NEEDS_CHECK_FLAG)
      throw new UsageError(`${name} is marked needs_check: the kernel found a fault; run ${source.doctorCommand ?? `dmthin doctor --metadata ${name}`} first`);
    if (sb.heldRoot !== 0)
      throw new UsageError(
        `${name} holds a metadata snapshot (block ${sb.heldRoot}), which a rebuilt copy cannot keep: release it first: with the pool active (lvchange -ay VG/POOL, or dmsetup create), dmsetup message POOL 0 release_metadata_snap (the -tpool device under LVM), then deactivate it; nothing releases it offline, and a backup that took it may still be reading it`,
      );
    const builder = MetadataBuilder.create(output, source.files, sb.metadataNrBlocks * BLOCK_SIZE);
    try {
      refuseNonEmpty(output);
      refuseRecoverableDeleted(md.reader, options.forgetDeleted === true, {
        loses: `a resized copy holds only the live devices, so once it replaces ${name} they cannot be brought back from it`,
        bringBack: `dmthin export --metadata ${name} --data DATA --deleted ID -o FILE for each; docs/recovery.md`,
        ...options.deletedWords,
      });
      dump(md, builder);
      const built = must(builder.built, 'what end() built');
      const out = new FileSource(output, 'metadata output');
      const outBytes = out.size;
      out.close();
      return { ...built, fromNrBlocks: sb.metadataNrBlocks, unusedBytes: Math.max(0, outBytes - built.metadataNrBlocks * BLOCK_SIZE) };
    } catch (e) {
      if (!(e instanceof MetadataTooSmallError)) throw e;
      const least = smallestNrBlocks(md);
      throw new UsageError(
        `${output} holds ${builder.nrBlocks} metadata blocks (${builder.nrBlocks * BLOCK_SIZE} bytes); this metadata needs at least ${least} (${least * BLOCK_SIZE} bytes): nothing written`,
      );
    } finally {
      builder.close();
    }
  } finally {
    md.close();
  }
}

/**
 * The fewest metadata blocks `md` rebuilds into. A build's own space map
 * grows with the device (a bitmap block per 16320 blocks), so the count is
 * measured at the largest size and again at what that used, until it holds.
 */
export function smallestNrBlocks(md: Metadata): number {
  let n = MAX_METADATA_BLOCKS;
  for (;;) {
    const b = MetadataBuilder.measure(n);
    dump(md, b);
    const used = must(b.built, 'what measure built').metadataBlocksUsed;
    if (used >= n) return n;
    n = used;
  }
}

/**
 * A resize writes a new metadata device: one whose first block already
 * holds something (a pool's metadata, its data, a filesystem) is refused,
 * never overwritten (the trial pointed -o at the pool's data file). A new
 * file (truncate) or LV (lvcreate zeroes its first 4 KiB) is empty.
 */
function refuseNonEmpty(output: string): void {
  let fd: number;
  try {
    fd = openSync(output, 'r');
  } catch {
    return; // Missing or unreadable: MetadataBuilder.create says so, naming how to make it.
  }
  try {
    const b = Buffer.alloc(BLOCK_SIZE);
    const n = readSync(fd, b, 0, BLOCK_SIZE, 0);
    if (b.subarray(0, n).some((x) => x !== 0)) {
      const way = `give an empty one (truncate -s SIZE NEW), or zero its first block if it is yours to reuse (dd if=/dev/zero of=${output} bs=4096 count=1 conv=notrunc)`;
      if (n === BLOCK_SIZE && hasSuperblockMagic(b))
        throw new UsageError(
          `${output} holds pool metadata (a thin superblock at block 0: a pool's, or an earlier resize's): a resize writes a new metadata device and will not write over metadata; ${way}`,
        );
      throw new UsageError(
        `${output} is not empty (its first 4 KiB hold data: another pool's metadata or data, a filesystem?): a resize writes a new metadata device, and will not write over one in use; ${way}`,
      );
    }
  } finally {
    closeSync(fd);
  }
}
