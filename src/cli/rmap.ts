import type { Command } from 'commander';
import { Metadata } from '../thin/metadata.js';
import { formatRmap, parseRegion, rmap, type Region } from '../thin/rmap.js';
import { run } from './util.js';

export function register(program: Command): void {
  program
    .command('rmap')
    .summary('which thin devices use given data blocks, as thin_rmap')
    .description(
      'For data blocks in the regions (BEGIN..END, END one past the last), prints which thin\n' +
        'device and virtual blocks map them: after a bad-sector report, this says whose data it hit.',
    )
    .argument('<metadata>')
    .requiredOption('--region <range>', 'data block range BEGIN..END (repeatable)', (v: string, prev: Region[]) => [...prev, parseRegion(v)], [] as Region[])
    .option('--json', 'print [{data_begin, data_end, dev_id, thin_begin}]')
    .action((metadata: string, o: { region: Region[]; json?: boolean }) =>
      run(() => {
        const md = Metadata.open(metadata);
        try {
          const runs = rmap(md, o.region);
          if (o.json) {
            process.stdout.write(`${JSON.stringify(runs.map((r) => ({ data_begin: r.dataBegin, data_end: r.dataEnd, dev_id: r.devId, thin_begin: r.thinBegin })))}\n`);
          } else {
            process.stdout.write(formatRmap(runs));
          }
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
