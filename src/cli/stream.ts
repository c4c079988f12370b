import { filesSource } from '../thin/pool-source.js';
import { withDamageAdvice, withDamageAdviceAsync } from '../thin/damage.js';
import { type Command, Option } from 'commander';
import { ArgumentError } from '../errors.js';
import { withOutputAsync } from '../io/output-file.js';
import { type ReceiveResult, receive } from '../stream/receive.js';
import { receiveIntoThin } from '../driver/receive-thin.js';
import { type LiveReport, sendThinLive } from '../driver/send-thin.js';
import { send } from '../stream/send.js';
import { Metadata } from '../thin/metadata.js';
import { arg, parseIntArg, parseSizeArg, parseThinIdArg } from './args.js';
import { announce, printJson } from './json.js';
import { run } from './run.js';

export function register(program: Command): void {
  program
    .command('send')
    .summary("a thin device's blocks as a verified stream: whole, or what changed since a base snapshot")
    .description(
      [
        "Writes a thin device as a dmthin stream (docs/stream.md): every mapped block, or with --base OLD only the blocks whose mapping differs from OLD's (and the blocks OLD mapped that the device does not, as discards). Each record and the whole stream are checksummed; `dmthin receive` applies it.",
        'Offline: --metadata M --data D --dev-id ID (files, or the devices of an inactive pool; read only). Live: POOL THIN-ID, an active pool by its dm name: a metadata snapshot is reserved for the read and always released (a pool already holding one is refused). The device must not be active and writable: send a snapshot of it.',
        'Exit status: 0 written, 1 a device or file cannot be read, 2 bad arguments.',
      ].join('\n\n'),
    )
    .argument('[pool]', 'an active pool (its dm name): send live')
    .argument('[thin-id]', 'with POOL: the thin device (snapshot) to send', parseThinIdArg)
    .option('--metadata <file>', 'offline: metadata file or device')
    .option('--data <file>', 'offline: data file or device')
    .option('--dev-id <id>', 'offline: the thin device (snapshot) to send', parseThinIdArg)
    .option('-m, --metadata-snap', "offline: read the held metadata snapshot's trees")
    .addOption(new Option('--metadata-snap-at <block>').hideHelp().argParser(parseIntArg))
    // From a live send (driver/send-thin.ts) to the child that reads: the LVM names and the pool, for the report.
    .addOption(new Option('--report-as <json>').hideHelp().argParser(parseReportAs))
    .option('--base <id>', 'an earlier snapshot of the same origin that the receiver holds: send only what changed since', parseThinIdArg)
    .option('--size <size>', "the device's size (default: an active device's size, else up to the highest block either device maps), e.g. 10G", parseSizeArg)
    .requiredOption('-o, --output <file>', 'stream file (created or replaced), or - for standard output')
    .option('--json', 'print what was sent as one JSON object (on stderr with -o -)')
    .action((pool: string | undefined, thinId: number | undefined, o: SendCliOptions) =>
      run(async () => {
        if (pool !== undefined) {
          if (thinId === undefined) throw new ArgumentError(`which thin device of ${pool}? dmthin send ${pool} ID`);
          if (o.metadata !== undefined || o.data !== undefined || o.devId !== undefined || o.metadataSnap || o.metadataSnapAt !== undefined) {
            throw new ArgumentError(
              "a live send reads the pool's own devices: --metadata, --data, --dev-id and --metadata-snap are for files or an inactive pool",
            );
          }
          return sendThinLive(pool, thinId, { base: o.base, size: o.size, output: o.output, json: o.json });
        }
        if (o.metadata === undefined || o.data === undefined || o.devId === undefined) {
          throw new ArgumentError('give an active pool and thin id (dmthin send POOL ID), or --metadata, --data and --dev-id for files or an inactive pool');
        }
        const { metadata, data, devId } = o;
        const source = filesSource(metadata, data);
        const md = withDamageAdvice(source, () => Metadata.open(metadata, { metadataSnap: o.metadataSnapAt ?? o.metadataSnap }));
        try {
          const r = await withDamageAdviceAsync(source, () =>
            withOutputAsync(o.output, { inputs: [metadata, data], binary: true, what: 'stream' }, (out) =>
              send(md, data, devId, out.fd, { base: o.base, size: o.size }),
            ),
          );
          const as = o.reportAs;
          const what = as?.lv
            ? `${as.lv}${as.baseLv ? ` since ${as.baseLv}` : ' (full)'}`
            : `thin ${r.deviceId}${r.baseDeviceId === null ? ' (full)' : ` since ${r.baseDeviceId}`}`;
          announce(
            o.json,
            `sent ${what}${as?.livePool ? ` from the live pool ${as.livePool}` : ''}: ${r.dataBlocks} blocks of data, ${r.zeroBlocks} discarded, ${r.bytes} bytes`,
            { ...r, ...as },
            process.stderr,
            o.output,
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
        'Reads the stream whole and checks the CRC-32 of every record, the totals and the stream checksum, and (for an incremental stream) that its base is what TARGET last received (TARGET.dmthin-state); only then writes the blocks into TARGET and makes its state record current. Discarded runs become holes in a file, discards on a device (read back and zeroed where they do not read as zeros), or written zeros where neither is possible. A receive interrupted while writing leaves the state record naming that stream: give the same stream again to finish; any other is refused. A full stream into a file is written beside TARGET (a sparse file) and renamed over it when complete, or fills a block device; an existing file that dmthin did not receive into is refused. Nothing is written before the stream and the paths are checked: the stream a regular file or -, the state record a regular file, no two of them the same file; a stream too large for the filesystem of TARGET is refused. With --pool POOL --thin-id ID --state FILE (as root) the target is a thin device of an active pool: a full stream creates it, later ones update it.',
        'Exit status: 0 applied, 1 refused (damaged, truncated, wrong base; TARGET unchanged) or a file cannot be read, 2 bad arguments.',
      ].join('\n\n'),
    )
    .requiredOption('-i, --input <file>', 'stream file, or - for standard input')
    .option('-o, --output <target>', 'image file or block device to apply it to')
    .option('--pool <name>', 'instead of -o: an active pool (its dm name) to receive into, as thin device --thin-id')
    .option('--thin-id <id>', 'with --pool: the thin device (created by a full stream)', parseThinIdArg)
    .option('--state <file>', 'the state record (default: TARGET.dmthin-state; required with --pool)')
    .option('--json', 'print what was applied as one JSON object')
    .action((o: { input: string; output?: string; pool?: string; thinId?: number; state?: string; json?: boolean }) =>
      run(async () => {
        let r: ReceiveResult;
        if (o.pool !== undefined) {
          if (o.output !== undefined) throw new ArgumentError('give -o TARGET or --pool POOL --thin-id ID, not both');
          if (o.thinId === undefined || o.state === undefined) throw new ArgumentError('--pool needs --thin-id ID and --state FILE');
          r = await receiveIntoThin(o.input, { pool: o.pool, thinId: o.thinId, state: o.state });
        } else {
          if (o.output === undefined) throw new ArgumentError('where to? -o TARGET (a file or block device), or --pool POOL --thin-id ID --state FILE');
          r = await receive(o.input, o.output, { state: o.state });
        }
        if (o.json) printJson(r, process.stdout, 0);
        else
          process.stderr.write(
            `received into ${r.target}${r.resumed ? ' (finishing an interrupted receive)' : ''}: ${r.incremental ? 'incremental' : 'full'}, ${r.dataBlocks} blocks written, ${r.zeroBlocks} discarded (as ${r.discardedAs}); it now holds ${r.identity.slice(0, 16)}...\n`,
          );
        return 0;
      }),
    );
}

interface SendCliOptions {
  metadata?: string;
  data?: string;
  devId?: number;
  metadataSnap?: boolean;
  metadataSnapAt?: number;
  reportAs?: LiveReport;
  base?: number;
  size?: number;
  output: string;
  json?: boolean;
}

/** --report-as: a JSON object, else commander's "invalid argument" (exit 2), never a stack trace. */
const parseReportAs = arg((v: string): LiveReport => {
  try {
    const r = JSON.parse(v) as LiveReport;
    if (typeof r === 'object' && r !== null && typeof r.livePool === 'string') return r;
  } catch {
    // Reported below.
  }
  throw new ArgumentError('--report-as takes the JSON a live send passes to its child');
});
