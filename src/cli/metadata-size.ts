import type { Command } from 'commander';
import { ArgumentError } from '../errors.js';
import {
  type SizeArg,
  UNIT_CHARS,
  UNIT_FACTORS,
  UNIT_NAMES,
  estimateMetadataBytes,
  formatEstimate,
  parseSizeArg,
  unitIndex,
} from '../thin/insight/metadata-size.js';
import { arg } from './args.js';
import { printJson } from './json.js';
import { run } from './run.js';

export function register(program: Command): void {
  program
    .command('metadata-size')
    .summary('estimate the metadata size a pool needs, as thin_metadata_size')
    .description(
      `Sizes take a unit letter (${UNIT_CHARS}: bytes, sectors, kibi-/kilo-, mebi-/mega-...) or a unit name;\n` +
        'without one, block and pool sizes are sectors. Prints the same number as thin_metadata_size 0.9.',
    )
    .requiredOption(
      '-b, --block-size <size>',
      'data block size, a power of 2 (e.g. 64k)',
      arg((v) => parseSizeArg(v, 'block size')),
    )
    .requiredOption(
      '-s, --pool-size <size>',
      'pool (data) size (e.g. 1t)',
      arg((v) => parseSizeArg(v, 'pool size')),
    )
    .requiredOption(
      '-m, --max-thins <count>',
      'thin devices and snapshots, at most',
      arg((v) => parseSizeArg(v, 'max thins', true)),
    )
    .option('-u, --unit <unit>', 'output unit', arg(unitIndex), unitIndex('s'))
    .option('-n, --numeric-only [form]', 'only the number; "short" or "long" adds the unit')
    .option('--json', 'print {bytes, sectors, value, unit}')
    .action((o: { blockSize: SizeArg; poolSize: SizeArg; maxThins: SizeArg; unit: number; numericOnly?: boolean | string; json?: boolean }) =>
      run(() => {
        const u = o.unit;
        const b = o.blockSize;
        const s = o.poolSize;
        const m = o.maxThins;
        const bytes = estimateMetadataBytes(b.value, s.value, m.value);
        const value = bytes / UNIT_FACTORS[u];
        if (o.json) {
          printJson({ bytes, sectors: bytes / 512, value, unit: UNIT_NAMES[u] }, process.stdout, 0);
          return 0;
        }
        const n = o.numericOnly;
        if (n === undefined) {
          process.stdout.write(
            `dmthin metadata-size - ${formatEstimate(value)} ${UNIT_NAMES[u]} estimated metadata area size for "--block-size=${b.echo} --pool-size=${s.echo} --max-thins=${m.echo}"\n`,
          );
        } else {
          let suffix = '';
          if (typeof n === 'string') {
            if ('long'.startsWith(n) && n) suffix = UNIT_NAMES[u];
            else if ('short'.startsWith(n) && n) suffix = UNIT_CHARS[u];
            else throw new ArgumentError('-n takes short or long');
          }
          process.stdout.write(`${formatEstimate(value)}${suffix}\n`);
        }
        return 0;
      }),
    );
}
