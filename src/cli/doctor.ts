import type { Command } from 'commander';
import { type DiagnoseOptions, examine } from '../thin/doctor/diagnose.js';
import { checkKitDir, writeKit } from '../thin/doctor/kit.js';
import { kitHelp } from '../thin/doctor/kit-contents.js';
import { reportText } from '../thin/doctor/text.js';
import { filesSource, type PoolSource } from '../thin/pool-source.js';
import { formatJson, printJson } from './json.js';
import { scanProgress } from './progress.js';
import { run } from './run.js';
import { metadataArg, parseDataBlockSizeArg } from './args.js';

export interface DoctorFlags {
  metadata?: string;
  data?: string;
  json?: boolean;
  output?: string;
  dataBlockSize?: number;
}

export const DOCTOR_DESCRIPTION = [
  "Examines a pool that will not activate (or any pool) and says, for a person: what is wrong (each problem with a stable code, a severity and its minimal fix), what is at risk (each device's lost byte ranges after the best repair; candidate data blocks that may still hold lost data, matched to lost ranges where evidence allows), and what to do next (the steps in order, with real paths and sizes).",
  'Read-only: nothing is written unless -o DIR asks for the kit. See docs/doctor.md.',
  kitHelp(),
  'Exit status: 0 healthy, 1 problems found (or a failure), 2 bad arguments.',
].join('\n\n');

export function register(program: Command): void {
  program
    .command('doctor')
    .summary('say what is wrong with a pool, what is at risk and what to do')
    .description(DOCTOR_DESCRIPTION)
    .argument('[metadata]', 'metadata file or inactive metadata device (or --metadata)')
    .option('--metadata <metadata>', 'metadata file or inactive metadata device')
    .option('--data <data>', "the pool's data file or device: checks its size, reads candidate blocks and matches them")
    .option('--data-block-size <sectors>', 'the data block size, when the superblock lost it (as repair takes it)', parseDataBlockSizeArg)
    .option('-o, --output <dir>', 'write the kit into this new directory')
    .option('--json', 'print the report as one JSON object')
    .action((positional: string | undefined, opts: DoctorFlags) =>
      run(() => {
        const metadata = metadataArg(positional, opts.metadata, 'dmthin doctor --metadata M [--data D]');
        return doctorAction(filesSource(metadata, opts.data), opts, { dataBlockSize: opts.dataBlockSize });
      }),
    );
}

/** Diagnoses `source`, writes the kit when asked, prints; 0 healthy, 1 problems. The LVM, Docker and live doctors call it with their source and names. */
export function doctorAction(source: PoolSource, opts: Pick<DoctorFlags, 'json' | 'output'>, diagnoseOptions: DiagnoseOptions = {}): number {
  // A kit that cannot be made is refused before the long work.
  if (opts.output !== undefined) checkKitDir(opts.output);
  const tty = process.stderr.isTTY && !opts.json;
  const onStage = tty ? (s: string): void => void process.stderr.write(`${s}...\n`) : undefined;
  const d = examine(source, { onStage, onProgress: scanProgress(!tty), ...diagnoseOptions });
  const report = opts.output !== undefined ? writeKit(source, d, opts.output, { json: (r) => formatJson(r), onStage }) : d.report;
  if (opts.json) printJson(report);
  else process.stdout.write(reportText(report));
  return report.healthy ? 0 : 1;
}
