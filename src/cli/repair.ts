import type { Command } from 'commander';
import { repair } from '../thin/repair/repair.js';
import { filesSource, type PoolSource } from '../thin/pool-source.js';
import { parseDataBlockSizeArg, parseIntArg, parseU64Arg } from './args.js';
import { printJson } from './json.js';
import { scanProgress } from './progress.js';
import { run } from './run.js';
import { holdsText, lostLine } from './lost.js';
import type { DeviceLosses } from '../thin/repair/losses.js';

export interface RepairFlags {
  output: string;
  quiet?: boolean;
  json?: boolean;
  transactionId?: bigint;
  dataBlockSize?: number;
  nrDataBlocks?: number;
  overrideMappingRoot?: number;
  overrideDetailsRoot?: number;
  data?: string;
}

export const REPAIR_DESCRIPTION = [
  "Reads damaged metadata (never writing it) and writes repaired metadata to OUTPUT, which must exist and have the metadata's size (a new LV, or a file made with `truncate -s`).",
  'The newest generation is kept: the superblock names it, even with a bad checksum when its fields hold. Lost tree nodes become lost ranges; older copies of them, found by scanning every block, fill those ranges only where the newest data space map vouches for each mapping: a repaired pool may miss mappings but never gains a wrong one. Both space maps are rebuilt; the output passes thin_check. What was lost and recovered is printed.',
  "A wholly lost superblock costs its data block size unless a metadata snapshot's copy survives: give --data-block-size then. See docs/repair.md.",
].join('\n\n');

export function register(program: Command): void {
  const cmd = program
    .command('repair')
    .summary('rebuild damaged metadata into a new file or device')
    .description(REPAIR_DESCRIPTION)
    .requiredOption('-i, --input <metadata>', 'damaged metadata file or device (read only)')
    .option('--data <file>', "the pool's data file or device (read only): then what each lost range held is said, in files");
  repairOptions(cmd).action((o: RepairFlags & { input: string }) => run(() => repairAction(filesSource(o.input, o.data), o)));
}

export function repairOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-o, --output <metadata>', 'file or device to write (not in use by the kernel)')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print what was found and done as one JSON object')
    .option('--transaction-id <n>', 'at least this transaction id (as thin_repair; any u64)', parseU64Arg)
    .option('--data-block-size <sectors>', 'the data block size, when the superblock lost it', parseDataBlockSizeArg)
    .option('--nr-data-blocks <n>', 'at least this many data blocks (as thin_repair)', parseIntArg)
    .option('--override-mapping-root <block>', 'use this top-level mapping tree (when the superblock is lost and several generations fit)', parseIntArg)
    .option('--override-details-root <block>', 'use this device details tree (with --override-mapping-root)', parseIntArg);
}

export function repairAction(source: PoolSource, opts: RepairFlags): number {
  const r = repair(source.metadata, opts.output, {
    inputs: source.files,
    transactionId: opts.transactionId,
    dataBlockSize: opts.dataBlockSize,
    nrDataBlocks: opts.nrDataBlocks,
    mappingRoot: opts.overrideMappingRoot,
    detailsRoot: opts.overrideDetailsRoot,
    onProgress: scanProgress(opts.quiet || opts.json),
    data: source.data,
  });
  const s = r.salvage;
  if (opts.json) {
    printJson({ header: s.header, stats: s.stats, notes: s.notes, written: r.built, losses: r.losses });
  } else if (!opts.quiet) {
    for (const n of s.notes) process.stderr.write(`${n}\n`);
    const st = s.stats;
    process.stderr.write(
      `repaired: ${st.devices} devices, ${st.intactMappings + st.recoveredMappings} mappings ` +
        `(${st.recoveredMappings} from older copies), ${lostRanges(r.losses)}; wrote ${r.built.metadataBlocksUsed} of ${r.built.metadataNrBlocks} blocks of ${opts.output}\n`,
    );
    for (const l of r.losses) process.stderr.write(lossText(l, source));
  }
  return 0;
}

function lostRanges(losses: readonly DeviceLosses[]): string {
  const n = losses.reduce((a, l) => a + l.lost.length, 0);
  return n === 0 ? 'nothing lost' : `${n} lost range${n === 1 ? '' : 's'} in ${losses.length} device${losses.length === 1 ? '' : 's'}`;
}

/** A device's bytes the repair could not give back, and what they held (or how to find out). */
function lossText(l: DeviceLosses, source: PoolSource): string {
  const ranges = l.lost.map((x) => ({ from: x.offset, to: x.offset + x.length }));
  const end = l.lostToEnd ? "; the last runs on to the device's end, which the metadata does not record" : '';
  const how =
    source.data !== undefined
      ? holdsText(l)
      : source.dataProblem
        ? `what they held cannot be told: ${source.dataProblem}\n`
        : 'give --data DATA to be told what they held, in files (or run dmthin doctor)\n';
  return `${lostLine(`thin device ${l.deviceId}`, ranges, undefined, 'read as zeros from the repaired pool')}${end}\n${how}`;
}
