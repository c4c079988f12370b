import type { Command } from 'commander';
import { parseBytes } from '../format/units.js';
import { ArgumentError } from '../errors.js';
import { type LvmShrinkResult, lvmShrink } from '../lvm/shrink-pool.js';
import { printable } from '../lvm/printable.js';
import { journalPath } from '../thin/shrink/guards.js';
import { shrink, type ShrinkResult } from '../thin/shrink/shrink.js';
import { arg } from './args.js';
import { printJson } from './json.js';
import { run } from './run.js';

interface ShrinkFlags {
  metadata: string;
  data: string;
  size: number;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
  forgetDeleted?: boolean;
  dataMayBeZeros?: boolean;
  dataMayBeLarger?: boolean;
}

export const SHRINK_DESCRIPTION = [
  "Makes a pool's data device smaller: every data block at or past SIZE moves into a free block below it (a block shared by snapshots moves once, and every mapping follows it), the metadata is rewritten to say so and to say the new size, and a data file is cut to SIZE. A data device is not cut: its new size is printed, for lvreduce or your partitioning tool.",
  'Crash-safe: blocks are copied into space the committed metadata counts free and synced, then the new metadata is written into free metadata blocks and synced, and only then the superblock, the commit point. Killed at any moment, the pool reads as before; run the same command again to finish.',
  'Refused, with nothing changed: a pool the kernel runs (a device held open), metadata with errors or needs_check (the refusal names the dmthin doctor command for the pool), a held metadata snapshot, a SIZE below what the used blocks need (the smallest that fits is named) or not a whole number of data blocks (the nearest are named), too few free metadata blocks for the rewrite (grow the metadata first).',
  'Writes METADATA and DATA in place. --dry-run writes nothing. Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 usage. See docs/shrink.md.',
].join('\n\n');

export function register(program: Command): void {
  program
    .command('shrink')
    .summary("make a pool's data device smaller, moving blocks down")
    .description(SHRINK_DESCRIPTION)
    .requiredOption('--metadata <file>', "the pool's metadata file or device (rewritten)")
    .requiredOption('--data <file>', "the pool's data file or device (blocks moved; a file is cut)")
    .requiredOption(
      '--size <size>',
      'the new data size: bytes, or with a unit (128s, 64m, 10G), a whole number of data blocks',
      arg((v) => parseBytes(v, '--size')),
    )
    .option('-n, --dry-run', 'print what would move and how long it would take; change nothing')
    .option('--forget-deleted', 'write over deleted thin devices that could still be brought back (refused without it, naming them)')
    .option('--data-may-be-zeros', "the pool's data really reads as zeros (without it, such a data file is taken for another pool's and refused)")
    .option(
      '--data-may-be-larger',
      "the data is the pool's though larger than the metadata says (grown since the pool last ran; without it, refused as another file)",
    )
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print the result as one JSON object')
    .action((o: ShrinkFlags) => run(() => shrinkAction(o)));
}

export const LVM_SHRINK_DESCRIPTION = [
  "Makes a thin pool inside disk images smaller, in place, which lvm2 cannot do: every data block at or past SIZE moves into a free block below it inside the pool's data LV (sharing kept), the pool's metadata LV is rewritten to say so and the new size, and then LVM's VG text is written with the pool and its _tdata LV cut to SIZE (seqno + 1, into every metadata area): the freed extents are free in the VG, and lvm2 activates the smaller pool.",
  "SIZE must be a whole number of data blocks and of the VG's extents (the nearest sizes are named). Crash-safe as `dmthin shrink`: killed before the metadata commit, the pool is as it was; after it, the old VG text still gives the pool its old data LV (which activates; the kernel grows the metadata's count back). Run the same command again to finish.",
  'Refused, with nothing changed: a VG the kernel runs from these disks (vgchange -an first), a PV of the VG missing, an image given twice, metadata with errors, needs_check, a held metadata snapshot, deleted thin LVs that could still be brought back (--forget-deleted), a SIZE below what is used (the smallest is named).',
  'Writes the images in place. --dry-run writes nothing. Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 usage. See docs/shrink.md.',
].join('\n\n');

/** `dmthin lvm shrink IMAGE... VG/POOL --size SIZE`. */
export function registerLvm(lvm: Command): void {
  lvm
    .command('shrink')
    .summary('make a thin pool inside the images smaller: blocks moved down, metadata and VG text rewritten')
    .description(LVM_SHRINK_DESCRIPTION)
    .argument('<images-then-pool...>', 'disk images (every PV of the VG), then the pool as VG/POOL')
    .requiredOption(
      '--size <size>',
      "the pool's new data size: bytes, or with a unit (64m, 10G), a whole number of data blocks and of extents",
      arg((v) => parseBytes(v, '--size')),
    )
    .option('-n, --dry-run', 'print what would move and how long it would take; change nothing')
    .option('--forget-deleted', 'write over removed thin LVs that could still be brought back (refused without it, naming them)')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print the result as one JSON object')
    .action((args: string[], o: Omit<ShrinkFlags, 'metadata' | 'data' | 'dataMayBeZeros'>) =>
      run(() => {
        if (args.length < 2) throw new ArgumentError('give the disk images, then the pool as VG/POOL');
        const pool = args[args.length - 1];
        const r = lvmShrink(args.slice(0, -1), pool, o.size, {
          dryRun: o.dryRun,
          onProgress: progress(o.quiet === true || o.json === true),
          forgetDeleted: o.forgetDeleted,
        });
        if (o.json) printJson(r);
        else if (!o.quiet) process.stdout.write(lvmSummary(r));
        return 0;
      }),
    );
}

function lvmSummary(r: LvmShrinkResult): string {
  const bytes = r.dataBlockSize * 512;
  const name = `${printable(r.vg)}/${printable(r.pool)}`;
  const lines: string[] = [];
  const sizes = `${r.oldNrBlocks} -> ${r.newNrBlocks} data blocks (${r.oldNrBlocks * bytes} -> ${r.newNrBlocks * bytes} bytes)`;
  const freed = r.freed.map((f) => `${f.count} extents of ${printable(f.pv)} from extent ${f.start}`).join(', ');
  const text = `the data LV ${r.fromExtents} -> ${r.toExtents} extents (${freed} free in the VG)`;
  if (r.fromExtents === r.toExtents)
    lines.push(
      r.metadataAreas > 0
        ? `${name} is already ${r.newNrBlocks} data blocks (${r.newNrBlocks * bytes} bytes); VG text seqno ${r.seqno ?? 'as committed'} ${r.dryRun ? 'would be' : 'was'} written into ${r.metadataAreas} metadata areas an interrupted run left at the old text`
        : `${name} is already ${r.newNrBlocks} data blocks (${r.newNrBlocks * bytes} bytes): nothing to do`,
    );
  else if (r.dryRun) {
    const eta = r.estimatedSeconds === undefined ? '' : `, about ${r.estimatedSeconds.toFixed(1)} s at ${Math.round((r.copyRate ?? 0) / 2 ** 20)} MiB/s read`;
    if (r.alreadyShrunk) lines.push(`${name}'s metadata already says ${r.newNrBlocks} data blocks: nothing would move`);
    else
      lines.push(
        `would shrink ${name} ${sizes}: move ${r.movedBlocks} blocks (${r.movedBytes} bytes)${eta}; ${r.usedBlocks} blocks in use, ${smallestWords(r)}`,
      );
    lines.push(`the VG text would follow into ${r.metadataAreas} metadata areas: ${text}`);
  } else {
    if (r.alreadyShrunk) lines.push(`${name}'s metadata already said ${r.newNrBlocks} data blocks (an interrupted run): nothing moved`);
    else lines.push(`shrunk ${name} ${sizes}: moved ${r.movedBlocks} blocks (${r.movedBytes} bytes); metadata rewritten in ${r.metadataBlocksUsed} blocks`);
    lines.push(`VG text seqno ${r.seqno} written into ${r.metadataAreas} metadata areas: ${text}`);
  }
  const full = r.fromExtents === r.toExtents ? undefined : fullNote(r);
  if (full) lines.push(full);
  return `${lines.join('\n')}\n`;
}

/** "smallest size --size B (N data blocks)": the smallest --size the pool takes (an LVM pool's rounded to whole extents). */
function smallestWords(r: ShrinkResult): string {
  const bytes = r.minSizeBytes ?? r.minNrBlocks * r.dataBlockSize * 512;
  return `smallest size --size ${bytes} (${bytes / (r.dataBlockSize * 512)} data blocks)`;
}

/** A word when the shrunk pool is nearly full: the smallest size that fits leaves the thin devices no room to write. */
function fullNote(r: ShrinkResult): string | undefined {
  if (r.alreadyShrunk || r.newNrBlocks === 0) return undefined;
  const pct = Math.round((100 * r.usedBlocks) / r.newNrBlocks);
  if (pct < 90) return undefined;
  return `note: the pool ${r.dryRun ? 'would be' : 'is now'} ${pct} % full (${r.usedBlocks} of ${r.newNrBlocks} data blocks in use): writes that need new blocks will soon find none (the kernel then queues or fails them); a larger --size leaves room`;
}

function progress(quiet: boolean): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((100 * done) / Math.max(total, 1));
    if (pct === last) return;
    last = pct;
    process.stderr.write(`\rmoving data blocks: ${pct}%`);
    if (done >= total) process.stderr.write('\n');
  };
}

function shrinkAction(o: ShrinkFlags): number {
  const r = shrink(o.metadata, o.data, o.size, {
    dryRun: o.dryRun,
    onProgress: progress(o.quiet === true || o.json === true),
    forgetDeleted: o.forgetDeleted,
    dataMayBeZeros: o.dataMayBeZeros,
    dataMayBeLarger: o.dataMayBeLarger,
  });
  if (o.json) printJson(r);
  else if (!o.quiet) process.stdout.write(summary(r, o));
  // Metadata that says a smaller size than a data file with no shrink of it recorded: a mismatch the user must look at.
  return r.dataLeftLonger !== undefined ? 1 : 0;
}

function summary(r: ShrinkResult, o: ShrinkFlags): string {
  const bytes = r.dataBlockSize * 512;
  const lines: string[] = [];
  const sizes = `${r.oldNrBlocks} -> ${r.newNrBlocks} data blocks (${r.oldNrBlocks * bytes} -> ${r.newNrBlocks * bytes} bytes)`;
  if (r.alreadyShrunk) lines.push(`${o.metadata} already says ${r.newNrBlocks} data blocks: nothing to move`);
  else if (r.dryRun) {
    const eta =
      r.estimatedSeconds === undefined
        ? ''
        : `, about ${r.estimatedSeconds.toFixed(1)} s at ${Math.round((r.copyRate ?? 0) / 2 ** 20)} MiB/s read from ${o.data}`;
    lines.push(`would shrink ${sizes}: move ${r.movedBlocks} blocks (${r.movedBytes} bytes)${eta}; ${r.usedBlocks} blocks in use, ${smallestWords(r)}`);
  } else lines.push(`shrunk ${sizes}: moved ${r.movedBlocks} blocks (${r.movedBytes} bytes); metadata rewritten in ${r.metadataBlocksUsed} blocks`);
  if (r.dataLeftLonger !== undefined)
    lines.push(
      `${o.data} is ${r.dataLeftLonger} bytes, longer than the ${r.newNrBlocks * bytes} the metadata says, but no interrupted shrink of it is recorded (${journalPath(o.data)}): it is left as it is. If it is this pool's data file, truncate -s ${r.newNrBlocks * bytes} ${o.data} gives the space back`,
    );
  if (r.dataCutTo !== undefined) lines.push(`${o.data} ${r.dryRun ? 'would be' : 'was'} cut to ${r.dataCutTo} bytes`);
  if (r.dataMayBeCutTo !== undefined)
    lines.push(`${o.data} is a device: it may ${r.dryRun ? 'then' : 'now'} be cut to ${r.dataMayBeCutTo} bytes (${r.dataMayBeCutTo / 512} sectors)`);
  const full = fullNote(r);
  if (full) lines.push(full);
  return `${lines.join('\n')}\n`;
}
