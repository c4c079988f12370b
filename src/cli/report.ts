import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { withOutput } from '../io/output-file.js';
import { report } from '../thin/insight/report.js';
import { filesSource, type PoolSource } from '../thin/pool-source.js';
import { announce } from './json.js';
import { withPoolSource } from './pool-verb.js';
import { run } from './run.js';

export interface ReportFlags {
  output: string;
  json?: boolean;
}

export const REPORT_DESCRIPTION =
  'One HTML file, no network needed: the snapshot family tree (inferred from times and\n' +
  'shared blocks), exclusive vs shared space per device, the data space map as a picture,\n' +
  'metadata use and the check findings.';

export function register(program: Command): void {
  const cmd = program.command('report').summary('write a self-contained HTML report of a pool').description(REPORT_DESCRIPTION).argument('<metadata>');
  reportOptions(cmd).action((metadata: string, o: ReportFlags) => run(() => withPoolSource(filesSource(metadata), (source) => reportAction(source, o))));
}

export function reportOptions(cmd: Command): Command {
  return cmd.requiredOption('-o, --output <file>', 'HTML file to write').option('--json', 'print the result as one JSON object');
}

export function reportAction(source: PoolSource, o: ReportFlags): number {
  const html = report(source.metadata);
  withOutput(o.output, { inputs: source.files, what: 'HTML report' }, (out) => writeFileSync(out.fd, html));
  announce(o.json, `wrote ${o.output}`, { wrote: o.output, bytes: Buffer.byteLength(html) }, process.stderr);
  return 0;
}
