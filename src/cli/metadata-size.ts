import type { Command } from 'commander';
import { UsageError } from '../format/errors.js';
import { UNIT_CHARS, UNIT_FACTORS, UNIT_NAMES, estimateMetadataBytes, formatEstimate, parseSizeArg, unitIndex } from '../thin/metadata-size.js';
import { run } from './util.js';

export function register(program: Command): void {
  program
    .command('metadata-size')
    .summary('estimate the metadata size a pool needs, as thin_metadata_size')
    .description(
      `Sizes take a unit letter (${UNIT_CHARS}: bytes, sectors, kibi-/kilo-, mebi-/mega-...) or a unit name;\n` +
        'without one, block and pool sizes are sectors. Prints the same number as thin_metadata_size 0.9.',
    )
    .requiredOption('-b, --block-size <size>', 'data block size, a power of 2 (e.g. 64k)')
    .requiredOption('-s, --pool-size <size>', 'pool (data) size (e.g. 1t)')
    .requiredOption('-m, --max-thins <count>', 'thin devices and snapshots, at most')
    .option('-u, --unit <unit>', 'output unit', 's')
    .option('-n, --numeric-only [form]', 'only the number; "short" or "long" adds the unit')
    .option('--json', 'print {bytes, sectors, value, unit}')
    .action((o: { blockSize: string; poolSize: string; maxThins: string; unit: string; numericOnly?: boolean | string; json?: boolean }) =>
      run(() => {
        const u = unitIndex(o.unit);
        const b = parseSizeArg(o.blockSize, 'block size');
        const s = parseSizeArg(o.poolSize, 'pool size');
        const m = parseSizeArg(o.maxThins, 'max thins', true);
        const bytes = estimateMetadataBytes(b.value, s.value, m.value);
        const value = bytes / UNIT_FACTORS[u]!;
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ bytes, sectors: bytes / 512, value, unit: UNIT_NAMES[u] })}\n`);
          return 0;
        }
        const n = o.numericOnly;
        if (n === undefined) {
          process.stdout.write(`dmthin metadata-size - ${formatEstimate(value)} ${UNIT_NAMES[u]} estimated metadata area size for "--block-size=${b.echo} --pool-size=${s.echo} --max-thins=${m.echo}"\n`);
        } else {
          let suffix = '';
          if (typeof n === 'string') {
            if ('long'.startsWith(n) && n) suffix = UNIT_NAMES[u]!;
            else if ('short'.startsWith(n) && n) suffix = UNIT_CHARS[u]!;
            else throw new UsageError('-n takes short or long');
          }
          process.stdout.write(`${formatEstimate(value)}${suffix}\n`);
        }
        return 0;
      }),
    );
}
