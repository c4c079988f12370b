import type { Command } from 'commander';
import { Metadata } from '../thin/metadata.js';
import { Output } from '../io/output.js';
import { trimData } from '../driver/trim.js';
import { run } from './run.js';

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
          const out = Output.stdout();
          const runs = r.runs;
          if (o.json) {
            out.text(`{"data_block_bytes":${r.blockBytes},"bytes":${r.bytes},"dry_run":${!!o.dryRun},"runs":[`);
            for (let i = 0; i < runs.n; i++)
              out
                .text(i ? ',[' : '[')
                .num(runs.begin[i])
                .text(',')
                .num(runs.length[i])
                .text(']');
            out.text(']}\n');
          } else {
            if (o.dryRun) {
              for (let i = 0; i < runs.n; i++) {
                const b = runs.begin[i];
                const e = b + runs.length[i];
                out
                  .text('free data blocks ')
                  .num(b)
                  .text('..')
                  .num(e)
                  .text(' (bytes ')
                  .num(b * r.blockBytes)
                  .text('..')
                  .num(e * r.blockBytes)
                  .text(')\n');
              }
            }
            out.text(`${o.dryRun ? 'would give back' : 'gave back'} ${r.bytes} bytes in ${runs.n} ranges\n`);
          }
          out.close();
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
