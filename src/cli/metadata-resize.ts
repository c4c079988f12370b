import type { Command } from 'commander';
import { BLOCK_SIZE } from '../format/checksum.js';
import { type PoolSource, filesSource } from '../thin/pool-source.js';
import { type ResizeOptions, resizeMetadata } from '../thin/resize/resize-metadata.js';
import { announce } from './json.js';
import { run } from './run.js';

export const RESIZE_DESCRIPTION = [
  'Puts the pool metadata of METADATA into OUTPUT, a metadata device of another size: larger (a pool that ran out of metadata space) or smaller. ' +
    "OUTPUT must exist; its size is the new metadata size (a new LV, or a file made with `truncate -s`). Every thin device, mapping, time and superblock field is kept; the metadata's own size, space maps and block layout are new, and a metadata snapshot cannot be carried over.",
  'METADATA is only read. Nothing is written to OUTPUT until the whole metadata has been rebuilt; its superblock is written last, after a sync. ' +
    'Refused with nothing written: metadata with errors or marked needs_check (run dmthin doctor first), a held metadata snapshot (release it first), deleted thin devices that could still be brought back (a copy cannot hold them: bring them back, or --forget-deleted), an OUTPUT smaller than the metadata needs (the smallest size is said), an OUTPUT that is METADATA. ' +
    'Then point the pool at OUTPUT (dmsetup reload with the new metadata device, or, for LVM, lvconvert --thinpool VG/POOL --poolmetadata NEW_LV with the pool inactive). See docs/metadata.md.',
  'Exit status: 0 written, 1 refused or failed (nothing written), 2 bad arguments.',
].join('\n\n');

/** `dmthin metadata resize`, under the `metadata` command pack.ts makes. */
export function registerResize(metadata: Command): void {
  resizeOptions(
    metadata
      .command('resize')
      .summary('put pool metadata into a larger or smaller metadata device')
      .description(RESIZE_DESCRIPTION)
      .requiredOption('-i, --input <metadata>', 'pool metadata file or device (read only)'),
  ).action((o: ResizeFlags & { input: string }) => run(() => resizeAction(filesSource(o.input), o)));
}

export interface ResizeFlags {
  input?: string;
  output: string;
  forgetDeleted?: boolean;
  quiet?: boolean;
  json?: boolean;
}

export const LVM_RESIZE_DESCRIPTION = [
  'Puts the metadata of pool VG/POOL, read from the images, into OUTPUT, a metadata device of another size, as `dmthin metadata resize`: for a pool that ran out of metadata space beyond what lvextend --poolmetadatasize can give in place, or whose metadata LV is far too large. The images are only read.',
  "OUTPUT must exist with the new size: on the host, a new LV (lvcreate -an -L SIZE -n newmeta VG), or a file (truncate -s SIZE). Then, with the pool inactive, swap it in: lvconvert --thinpool VG/POOL --poolmetadata VG/newmeta (the old metadata is left in newmeta's place: keep it until the pool is proven). Refused with nothing written: metadata with errors or needs_check (dmthin lvm doctor first), a held metadata snapshot, removed thin LVs that could still be brought back (--forget-deleted), a pool the kernel runs, an OUTPUT too small (the smallest size is said).",
  'Exit status: 0 written, 1 refused or failed (nothing written), 2 bad arguments.',
].join('\n\n');

/** The options both forms take (the lvm form's pool comes from the images, the other's from -i). */
export function resizeOptions(c: Command): Command {
  return c
    .requiredOption('-o, --output <metadata>', 'metadata file or device to write, of the new size (not in use by the kernel)')
    .option('--forget-deleted', 'leave out deleted thin devices that could still be brought back (refused without it, naming them)')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print what was written as one JSON object');
}

export function resizeAction(source: PoolSource, o: ResizeFlags, deletedWords?: ResizeOptions['deletedWords']): number {
  const r = resizeMetadata(source, o.output, { forgetDeleted: o.forgetDeleted, deletedWords });
  if (!o.quiet)
    announce(
      o.json,
      `resized: ${r.nrDevices} devices, ${r.nrMappings} mappings from ${r.fromNrBlocks} into ${r.metadataNrBlocks} metadata blocks of ${o.output} (${r.metadataBlocksUsed} used)${
        r.unusedBytes >= BLOCK_SIZE
          ? `; the kernel uses at most ${r.metadataNrBlocks} metadata blocks (${r.metadataNrBlocks * BLOCK_SIZE} bytes): the last ${r.unusedBytes} bytes of ${o.output} stay unused`
          : ''
      }`,
      { ...r },
      process.stderr,
    );
  return 0;
}
