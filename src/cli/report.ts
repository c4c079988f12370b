import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { report } from '../thin/insight/report.js';
import { withOutput } from '../io/output-file.js';
import { announce, run } from './util.js';

export function register(program: Command): void {
  program
    .command('report')
    .summary('write a self-contained HTML report of a pool')
    .description(
      'One HTML file, no network needed: the snapshot family tree (inferred from times and\n' +
        'shared blocks), exclusive vs shared space per device, the data space map as a picture,\n' +
        'metadata use and the check findings.',
    )
    .argument('<metadata>')
    .requiredOption('-o, --output <file>', 'HTML file to write')
    .option('--json', 'print the result as one JSON object')
    .action((metadata: string, o: { output: string; json?: boolean }) =>
      run(() => {
        const html = report(metadata);
        withOutput(o.output, { inputs: [metadata], what: 'HTML report' }, (out) => writeFileSync(out.fd, html));
        announce(o.json, `wrote ${o.output}`, { wrote: o.output, bytes: Buffer.byteLength(html) }, process.stderr);
        return 0;
      }),
    );
}
