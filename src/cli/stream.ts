import type { Command } from 'commander';
import { refuseInputAsOutput } from '../io/files.js';
import { withOutput } from '../io/output-file.js';
import { receive } from '../stream/receive.js';
import { send } from '../stream/send.js';
import { Metadata } from '../thin/metadata.js';
import { parseSizeArg, parseThinIdArg, printJson, run } from './util.js';

export function register(program: Command): void {
  program
    .command('send')
    .summary("a thin device's blocks as a verified stream: whole, or what changed since a base snapshot")
    .description(
      [
        "Writes thin device ID of the pool (metadata and data files or inactive devices, read only) as a dmthin stream (docs/stream.md): every mapped block, or with --base OLD only the blocks whose mapping differs from OLD's (and the blocks OLD mapped that ID does not, as discards). Each record and the whole stream are checksummed; `dmthin receive` applies it.",
        'Exit status: 0 written, 1 a device or file cannot be read, 2 bad arguments.',
      ].join('\n\n'),
    )
    .requiredOption('--metadata <file>', 'metadata file or device')
    .requiredOption('--data <file>', 'data file or device')
    .requiredOption('--dev-id <id>', 'the thin device (snapshot) to send', parseThinIdArg)
    .option('--base <id>', 'an earlier snapshot of the same origin that the receiver holds: send only what changed since', parseThinIdArg)
    .option('--size <size>', "the device's size (default: up to the highest block either device maps), e.g. 10G", parseSizeArg)
    .requiredOption('-o, --output <file>', 'stream file (created or replaced), or - for standard output')
    .option('--json', 'print what was sent as one JSON object (on stderr with -o -)')
    .action((o: { metadata: string; data: string; devId: number; base?: number; size?: number; output: string; json?: boolean }) =>
      run(() => {
        const md = Metadata.open(o.metadata);
        try {
          const r = withOutput(o.output, { inputs: [o.metadata, o.data], binary: true, what: 'stream' }, (out) =>
            send(md, o.data, o.devId, out.fd, { base: o.base, size: o.size }),
          );
          const say = o.output === '-' ? process.stderr : process.stdout;
          if (o.json) printJson(r, say, 0);
          else
            process.stderr.write(
              `sent thin ${r.device_id}${r.base_device_id === null ? ' (full)' : ` since ${r.base_device_id}`}: ${r.data_blocks} blocks of data, ${r.zero_blocks} discarded, ${r.bytes} bytes\n`,
            );
        } finally {
          md.close();
        }
        return 0;
      }),
    );
  program
    .command('receive')
    .summary('apply a dmthin stream to an image file or block device, verified before anything is written')
    .description(
      [
        'Reads the stream whole and checks the CRC-32 of every record, the totals and the stream checksum, and (for an incremental stream) that its base is what TARGET last received (TARGET.dmthin-state); only then writes the blocks into TARGET and makes its state record current. Discarded runs become holes in a file, discards on a device (read back and zeroed where they do not read as zeros), or written zeros where neither is possible. A receive interrupted while writing leaves the state record naming that stream: give the same stream again to finish; any other is refused. A full stream creates TARGET (a sparse file) or fills a block device; an existing file that dmthin did not receive into is refused.',
        'Exit status: 0 applied, 1 refused (damaged, truncated, wrong base; TARGET unchanged) or a file cannot be read, 2 bad arguments.',
      ].join('\n\n'),
    )
    .requiredOption('-i, --input <file>', 'stream file, or - for standard input')
    .requiredOption('-o, --output <target>', 'image file or block device to apply it to')
    .option('--state <file>', 'the state record (default: TARGET.dmthin-state)')
    .option('--json', 'print what was applied as one JSON object')
    .action((o: { input: string; output: string; state?: string; json?: boolean }) =>
      run(() => {
        // The target and its state record are written: neither may be the stream read (a link or a loop device included).
        for (const out of [o.output, o.state ?? `${o.output}.dmthin-state`]) refuseInputAsOutput(out, [o.input]);
        const r = receive(o.input, o.output, { state: o.state });
        if (o.json) printJson(r, process.stdout, 0);
        else
          process.stderr.write(
            `received into ${r.target}${r.resumed ? ' (finishing an interrupted receive)' : ''}: ${r.incremental ? 'incremental' : 'full'}, ${r.data_blocks} blocks written, ${r.zero_blocks} discarded (as ${r.discarded_as}); it now holds ${r.identity.slice(0, 16)}...\n`,
          );
        return 0;
      }),
    );
}
