import type { Command } from 'commander';
import { ArgumentError } from '../errors.js';
import { Output } from '../io/output.js';
import { type Region, parseRegion, rmap, writeRmap } from '../thin/insight/rmap.js';
import { filesSource, openMetadata, type PoolSource } from '../thin/pool-source.js';
import { arg } from './args.js';
import { withPoolSource } from './pool-verb.js';
import { run } from './run.js';

export interface RmapFlags {
  region: Region[];
  json?: boolean;
}

export const RMAP_DESCRIPTION =
  'For data blocks in the regions (BEGIN..END, END one past the last), prints which thin\n' +
  'device and virtual blocks map them: after a bad-sector report, this says whose data it hit.';

export function register(program: Command): void {
  const cmd = program.command('rmap').summary('which thin devices use given data blocks, as thin_rmap').description(RMAP_DESCRIPTION).argument('<metadata>');
  rmapOptions(cmd).action((metadata: string, o: RmapFlags) => run(() => withPoolSource(filesSource(metadata), (source) => rmapAction(source, o))));
}

export function rmapOptions(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--region <range>',
      'data block range BEGIN..END (repeatable)',
      (v: string, prev: Region[]) => [...prev, arg(parseRegion)(v)],
      [] as Region[],
    )
    .option('--json', 'print [{data_begin, data_end, dev_id, thin_begin}]');
}

export function rmapAction(source: PoolSource, o: RmapFlags): number {
  if (o.region.length === 0) throw new ArgumentError('rmap needs at least one --region BEGIN..END (data blocks, END one past the last)');
  const md = openMetadata(source);
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
}
