import type { Command } from 'commander';
import { parseBytes } from '../format/units.js';
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
}

export const SHRINK_DESCRIPTION = [
  "Makes a pool's data device smaller: every data block at or past SIZE moves into a free block below it (a block shared by snapshots moves once, and every mapping follows it), the metadata is rewritten to say so and to say the new size, and a data file is cut to SIZE. A data device is not cut: its new size is printed, for lvreduce or your partitioning tool.",
  'Crash-safe: blocks are copied into space the committed metadata counts free and synced, then the new metadata is written into free metadata blocks and synced, and only then the superblock, the commit point. Killed at any moment, the pool reads as before; run the same command again to finish.',
  'Refused, with nothing changed: a pool the kernel runs (a device held open), metadata with errors (run dmthin check), needs_check, a held metadata snapshot, a SIZE below what the used blocks need (the smallest that fits is named) or not a whole number of data blocks (the nearest are named), too few free metadata blocks for the rewrite (grow the metadata first).',
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
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print the result as one JSON object')
    .action((o: ShrinkFlags) => run(() => shrinkAction(o)));
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
    lines.push(
      `would shrink ${sizes}: move ${r.movedBlocks} blocks (${r.movedBytes} bytes)${eta}; ${r.usedBlocks} blocks in use, smallest size ${r.minNrBlocks} blocks (--size ${r.minNrBlocks * bytes})`,
    );
  } else lines.push(`shrunk ${sizes}: moved ${r.movedBlocks} blocks (${r.movedBytes} bytes); metadata rewritten in ${r.metadataBlocksUsed} blocks`);
  if (r.dataLeftLonger !== undefined)
    lines.push(
      `${o.data} is ${r.dataLeftLonger} bytes, longer than the ${r.newNrBlocks * bytes} the metadata says, but no interrupted shrink of it is recorded (${o.data}.dmthin-shrink): it is left as it is. If it is this pool's data file, truncate -s ${r.newNrBlocks * bytes} ${o.data} gives the space back`,
    );
  if (r.dataCutTo !== undefined) lines.push(`${o.data} ${r.dryRun ? 'would be' : 'was'} cut to ${r.dataCutTo} bytes`);
  if (r.dataMayBeCutTo !== undefined)
    lines.push(`${o.data} is a device: it may ${r.dryRun ? 'then' : 'now'} be cut to ${r.dataMayBeCutTo} bytes (${r.dataMayBeCutTo / 512} sectors)`);
  return `${lines.join('\n')}\n`;
}
