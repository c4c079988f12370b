import type { Command } from 'commander';
import { Metadata } from '../thin/metadata.js';
import { Output } from '../io/output.js';
import { parseRegion, rmap, writeRmap, type Region } from '../thin/insight/rmap.js';
import { arg, run } from './util.js';
import { ArgumentError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('rmap')
    .summary('which thin devices use given data blocks, as thin_rmap')
    .description(
      'For data blocks in the regions (BEGIN..END, END one past the last), prints which thin\n' +
        'device and virtual blocks map them: after a bad-sector report, this says whose data it hit.',
    )
    .argument('<metadata>')
    .requiredOption(
      '--region <range>',
      'data block range BEGIN..END (repeatable)',
      (v: string, prev: Region[]) => [...prev, arg(parseRegion)(v)],
      [] as Region[],
    )
    .option('--json', 'print [{data_begin, data_end, dev_id, thin_begin}]')
    .action((metadata: string, o: { region: Region[]; json?: boolean }) =>
      run(() => {
        if (o.region.length === 0) throw new ArgumentError('rmap needs at least one --region BEGIN..END (data blocks, END one past the last)');
        const md = Metadata.open(metadata);
        try {
          const runs = rmap(md, o.region);
          const out = Output.stdout();
          if (o.json) {
            out.text('[');
            for (let k = 0; k < runs.length; k++) {
              const r = runs.at(k);
              out
                .text(k ? ',\n' : '\n')
                .text('{"data_begin":')
                .num(r.dataBegin)
                .text(',"data_end":')
                .num(r.dataEnd)
                .text(',"dev_id":')
                .num(r.devId)
                .text(',"thin_begin":')
                .num(r.thinBegin)
                .text('}');
            }
            out.text('\n]\n');
          } else {
            writeRmap(runs, out);
          }
          out.close();
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
