import { type Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import { Output } from '../io/output.js';
import { withOutput } from '../io/output-file.js';
import { dumpToOutput, sinkFor, type DumpFormat } from '../thin/dump/dump-format.js';
import { emitSalvage, withSalvage } from '../thin/repair/repair.js';
import { filesSource, openMetadata, type PoolSource } from '../thin/pool-source.js';
import { collectInt, parseDataBlockSizeArg, parseIntArg, parseU64Arg } from './args.js';
import { scanProgress } from './progress.js';
import { withPoolSource } from './pool-verb.js';
import { validateTrees } from '../thin/damage.js';
import { run } from './run.js';

export interface DumpCliOptions {
  format: string;
  json?: boolean;
  output?: string;
  metadataSnap?: boolean;
  metadataSnapAt?: number;
  devId: number[];
  skipMappings?: boolean;
  repair?: boolean;
  transactionId?: bigint;
  dataBlockSize?: number;
  nrDataBlocks?: number;
}

export const DUMP_DESCRIPTION = [
  'Prints the devices and mappings of pool metadata (a file or an inactive device). The XML is byte-identical to thin_dump 0.9 and can be fed to `dmthin restore` or thin_restore.',
  'With --repair, damaged metadata is dumped as `dmthin repair` would rebuild it (see its help): the newest generation, lost ranges left out or filled from vouched-for older copies; what was lost is printed on stderr.',
].join('\n\n');

export function register(program: Command): void {
  const cmd = program
    .command('dump')
    .summary('print metadata as thin_dump XML, human-readable text or JSON')
    .description(DUMP_DESCRIPTION)
    .argument('<metadata>', 'metadata file or device');
  dumpOptions(cmd).action((metadata: string, opts: DumpCliOptions) => run(() => withPoolSource(filesSource(metadata), (source) => dumpAction(source, opts))));
}

export function dumpOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(['xml', 'human_readable', 'json']).default('xml'))
    .option('--json', 'the same as --format json')
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .option('-m, --metadata-snap', 'dump the held metadata snapshot (`-m BLOCK` names its block)')
    .addOption(new Option('--metadata-snap-at <block>').hideHelp().argParser(parseIntArg))
    .option('--dev-id <id>', 'only this thin device (repeatable)', collectInt, [] as number[])
    .option('--skip-mappings', 'devices only, no mappings')
    .option('-r, --repair', 'repair while dumping (damaged metadata; nothing is written to it)')
    .option('--transaction-id <n>', 'print at least this transaction id (any u64)', parseU64Arg)
    .option('--data-block-size <sectors>', 'print this data block size (needed with --repair when the superblock is lost)', parseDataBlockSizeArg)
    .option('--nr-data-blocks <n>', 'print at least this many data blocks', parseIntArg);
}

export function dumpAction(source: PoolSource, opts: DumpCliOptions): number {
  const format = (opts.json ? 'json' : opts.format) as DumpFormat;
  const overrides = { transactionId: opts.transactionId, dataBlockSize: opts.dataBlockSize, nrDataBlocks: opts.nrDataBlocks };
  const select = { devIds: opts.devId.length ? opts.devId : undefined, skipMappings: opts.skipMappings };
  if (opts.repair) {
    if (opts.metadataSnap || opts.metadataSnapAt !== undefined)
      throw new UsageError('--repair cannot be combined with --metadata-snap: repair always reads the newest generation');
    withSalvage(source.metadata, { ...overrides, onProgress: scanProgress(false) }, (s) => {
      if (s.damaged) for (const n of s.notes) process.stderr.write(`${n}\n`);
      withOutput(opts.output ?? '-', { inputs: source.files, what: 'dump' }, (file) => {
        const out = new Output(file.fd);
        emitSalvage(s, sinkFor(format, out), select);
        out.flush();
      });
    });
    return 0;
  }
  const md = openMetadata(source, { metadataSnap: opts.metadataSnapAt ?? opts.metadataSnap });
  try {
    withOutput(opts.output ?? '-', { inputs: source.files, what: 'dump' }, (file) => {
      // A stream cannot be taken back: the trees are judged before the first byte (a file is renamed only when whole).
      const traversal = file.replacesInPlace ? validateTrees(md, select.skipMappings ? [] : select.devIds) : undefined;
      const out = new Output(file.fd);
      dumpToOutput(md, out, format, { ...select, overrides, traversal });
      out.flush();
    });
  } finally {
    md.close();
  }
  return 0;
}
