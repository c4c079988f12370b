import type { Command } from 'commander';
import { ArgumentError, must } from '../errors.js';
import { withOutput } from '../io/output-file.js';
import { exportDevice } from '../thin/export.js';
import { filesSource, openMetadata } from '../thin/pool-source.js';
import { scanDeleted } from '../thin/recover/scan-deleted.js';
import { exportDeleted } from '../thin/recover/export-deleted.js';
import { parseSizeArg, parseThinIdArg } from './args.js';
import { printJson } from './json.js';
import { scanProgress } from './progress.js';
import { doctorCommand, withDamageAdvice } from '../thin/damage.js';
import { formatDamagedExport, lostFields } from './lost.js';
import { run } from './run.js';

interface ExportFlags {
  metadata: string;
  data: string;
  devId?: number;
  deleted?: number;
  includeUnknown?: boolean;
  output: string;
  size?: number;
  atMetadataSnap?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('export')
    .summary("rebuild a thin device's bytes offline from the metadata and data files")
    .description(
      'Copies every mapped block of thin device ID from the data file to FILE at its virtual\n' +
        'offset; unmapped blocks are holes (zeros), as the kernel returns them. No kernel, no\n' +
        'root, no loop device. The result is what a forensic analyst mounts (mount -o ro,loop)\n' +
        'or feeds to debugfs. -o - streams to standard output.\n\n' +
        'With --deleted ID, a deleted device whose tree survives (see `dmthin ls --deleted`):\n' +
        'its intact and shared blocks are written, every block the evidence does not vouch for\n' +
        'is left as zeros and counted in the report (docs/recovery.md).',
    )
    .requiredOption('--metadata <file>', 'metadata file or device')
    .requiredOption('--data <file>', 'data file or device')
    .option('--dev-id <id>', 'thin device id', parseThinIdArg)
    .option('--deleted <id>', 'a deleted thin device id (recovery)', parseThinIdArg)
    .option('--include-unknown', 'with --deleted: write the blocks whose fate is unknown too (counted as unknown_written)')
    .requiredOption('-o, --output <file>', 'output file (created or truncated), or - for standard output')
    .option(
      '--size <size>',
      "device size (default: its filesystem's size, or up to the highest mapped block when larger or when no filesystem is found), e.g. 10G",
      parseSizeArg,
    )
    .option('--at-metadata-snap', 'export the device as the held metadata snapshot saw it')
    .option('--json', 'print {size, mapped_bytes, zero_bytes, runs} when done (with --deleted: the recovery report)')
    .action((o: ExportFlags) => run(() => withDamageAdvice(filesSource(o.metadata, o.data), () => exportAction(o))));
}

function exportAction(o: ExportFlags): number {
  if ((o.devId === undefined) === (o.deleted === undefined)) throw new ArgumentError('give either --dev-id ID (a live device) or --deleted ID (a deleted one)');
  if (o.includeUnknown && o.deleted === undefined) throw new ArgumentError('--include-unknown goes with --deleted');
  if (o.deleted !== undefined && o.atMetadataSnap) throw new ArgumentError('--deleted reads every generation in the metadata: not with --at-metadata-snap');
  const source = filesSource(o.metadata, o.data);
  const md = openMetadata(source, { metadataSnap: o.atMetadataSnap });
  const toStdout = o.output === '-';
  const tty = process.stderr.isTTY && !o.json;
  const t0 = Date.now();
  const id = o.devId ?? o.deleted;
  const onProgress = tty ? (done: number, total: number) => process.stderr.write(`\rexporting thin ${id}: ${((100 * done) / total).toFixed(0)}%`) : undefined;
  const say = toStdout ? process.stderr : process.stdout;
  try {
    const deleted = o.deleted;
    if (deleted !== undefined) {
      const scan = scanDeleted(md.reader, { onProgress: scanProgress(!tty) });
      const r = withOutput(o.output, { inputs: source.files, binary: true, what: 'image' }, (out) =>
        exportDeleted(md, scan, deleted, o.data, out.fd, { size: o.size, includeUnknown: o.includeUnknown, onProgress }),
      );
      if (tty) process.stderr.write('\r\x1b[K');
      const seconds = (Date.now() - t0) / 1000;
      if (o.json) printJson({ ...r, seconds }, say, 0);
      else
        process.stderr.write(
          `exported deleted thin ${r.deviceId}: ${r.writtenBlocks} of its ${r.mappedBlocks} mapped blocks written (${r.intact} intact, ${r.shared} shared` +
            `${r.unknownWritten ? `, ${r.unknownWritten} unknown written as asked` : ''}); ${r.withheldBlocks} left as zeros ` +
            `(${r.reallocated} reallocated since, ${r.unknown - r.unknownWritten} unknown); ${r.size} bytes in ${seconds.toFixed(2)} s\n`,
        );
      return 0;
    }
    const r = withOutput(o.output, { inputs: source.files, binary: true, what: 'image' }, (out) =>
      exportDevice(md, o.data, must(o.devId, '--dev-id'), out.fd, { size: o.size, onProgress }),
    );
    if (tty) process.stderr.write('\r\x1b[K');
    const secs = (Date.now() - t0) / 1000;
    const lost = r.damage ? lostFields(r.lost ?? [], r.damage, doctorCommand(source), r) : {};
    if (o.json) printJson({ size: r.size, mappedBytes: r.mappedBytes, zeroBytes: r.zeroBytes, runs: r.runs, seconds: secs, ...lost }, say, 0);
    else if (!toStdout || !process.stdout.isTTY) {
      process.stderr.write(`exported thin ${o.devId}: ${r.size} bytes, ${r.mappedBytes} mapped in ${r.runs} runs, in ${secs.toFixed(2)} s\n`);
    }
    if (r.damage && !o.json) process.stderr.write(formatDamagedExport(`thin ${o.devId}`, r.lost ?? [], r.damage, doctorCommand(source), r));
    return r.damage ? 1 : 0;
  } finally {
    md.close();
  }
}
