import type { Command } from 'commander';
import { Metadata } from '../thin/metadata.js';
import { trimData } from '../thin/trim-device.js';
import { run } from './util.js';

export function register(program: Command): void {
  program
    .command('trim')
    .summary('give back the data blocks a pool does not use (punch holes, discard)')
    .description(
      'Reads the data space map and, for every run of free data blocks, punches a hole in a\n' +
        'data file (the loop-file case) or discards the range of a data device. Used blocks are\n' +
        'never touched; the metadata is only read. Refuses while the pool is active.',
    )
    .requiredOption('--metadata <file>', 'metadata file or device')
    .requiredOption('--data <file>', 'data file or device')
    .option('--dry-run', 'print the ranges, change nothing')
    .option('--json', 'print {runs: [[begin_block, blocks]], bytes}')
    .action((o: { metadata: string; data: string; dryRun?: boolean; json?: boolean }) =>
      run(async () => {
        const md = Metadata.open(o.metadata);
        try {
          const r = await trimData(md, o.metadata, o.data, { dryRun: o.dryRun });
          if (o.json) {
            process.stdout.write(`${JSON.stringify({ dataBlockSize: r.blockBytes, runs: r.runs.map((x) => [x.begin, x.length]), bytes: r.bytes, dryRun: !!o.dryRun })}\n`);
          } else {
            for (const x of o.dryRun ? r.runs : []) process.stdout.write(`free data blocks ${x.begin}..${x.begin + x.length} (bytes ${x.begin * r.blockBytes}..${(x.begin + x.length) * r.blockBytes})\n`);
            process.stdout.write(`${o.dryRun ? 'would give back' : 'gave back'} ${r.bytes} bytes in ${r.runs.length} ranges\n`);
          }
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
