import type { Command } from 'commander';
import { withOutput } from '../io/output-file.js';
import { exportDevice } from '../thin/export.js';
import { Metadata } from '../thin/metadata.js';
import { parseSizeArg, parseThinIdArg, printJson, run } from './util.js';

export function register(program: Command): void {
  program
    .command('export')
    .summary("rebuild a thin device's bytes offline from the metadata and data files")
    .description(
      'Copies every mapped block of thin device ID from the data file to FILE at its virtual\n' +
        'offset; unmapped blocks are holes (zeros), as the kernel returns them. No kernel, no\n' +
        'root, no loop device. The result is what a forensic analyst mounts (mount -o ro,loop)\n' +
        'or feeds to debugfs. -o - streams to standard output.',
    )
    .requiredOption('--metadata <file>', 'metadata file or device')
    .requiredOption('--data <file>', 'data file or device')
    .requiredOption('--dev-id <id>', 'thin device id', parseThinIdArg)
    .requiredOption('-o, --output <file>', 'output file (created or truncated), or - for standard output')
    .option('--size <size>', 'device size (default: up to the highest mapped block), e.g. 10G', parseSizeArg)
    .option('--at-metadata-snap', 'export the device as the held metadata snapshot saw it')
    .option('--json', 'print {size, mapped_bytes, zero_bytes, runs} when done')
    .action((o: { metadata: string; data: string; devId: number; output: string; size?: number; atMetadataSnap?: boolean; json?: boolean }) =>
      run(() => {
        const md = Metadata.open(o.metadata, { metadataSnap: o.atMetadataSnap });
        const toStdout = o.output === '-';
        const tty = process.stderr.isTTY && !o.json;
        const t0 = Date.now();
        try {
          const r = withOutput(o.output, { inputs: [o.metadata, o.data], binary: true, what: 'image' }, (out) =>
            exportDevice(md, o.data, o.devId, out.fd, {
              size: o.size,
              onProgress: tty ? (done, total) => process.stderr.write(`\rexporting thin ${o.devId}: ${((100 * done) / total).toFixed(0)}%`) : undefined,
            }),
          );
          if (tty) process.stderr.write('\r\x1b[K');
          const secs = (Date.now() - t0) / 1000;
          if (o.json)
            printJson(
              { size: r.size, mappedBytes: r.mappedBytes, zeroBytes: r.zeroBytes, runs: r.runs, seconds: secs },
              toStdout ? process.stderr : process.stdout,
              0,
            );
          else if (!toStdout || !process.stdout.isTTY) {
            process.stderr.write(`exported thin ${o.devId}: ${r.size} bytes, ${r.mappedBytes} mapped in ${r.runs} runs, in ${secs.toFixed(2)} s\n`);
          }
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
