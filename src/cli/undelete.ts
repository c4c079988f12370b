import type { Command } from 'commander';
import { Metadata } from '../thin/metadata.js';
import { scanDeleted } from '../thin/recover/scan-deleted.js';
import { undelete } from '../thin/recover/undelete.js';
import { parseThinIdArg } from './args.js';
import { printJson } from './json.js';
import { scanProgress } from './progress.js';
import { run } from './run.js';

export function register(program: Command): void {
  program
    .command('undelete')
    .summary('write new metadata with a deleted thin device re-added')
    .description(
      [
        "Reads METADATA (never writing it) and writes NEW: the pool's metadata as it is, plus deleted device ID's mappings that the evidence vouches for (intact and shared; see `dmthin ls --deleted` and docs/recovery.md), its reference counts raised and its details restored where a copy survives. NEW must exist with the metadata's size (as for repair). Activate the pool with NEW only after checking the device's image (dmthin export --deleted); docs/recovery.md says how for a raw pool, LVM and Docker.",
        'The held metadata snapshot, if any, is not carried over.',
        'Exit status: 0 written, 1 the device cannot be re-added (nothing written), 2 bad arguments.',
      ].join('\n\n'),
    )
    .requiredOption('-i, --input <metadata>', 'metadata file or device (read only)')
    .requiredOption('-o, --output <metadata>', 'file or device to write (not in use by the kernel)')
    .requiredOption('--dev-id <id>', 'the deleted thin device', parseThinIdArg)
    .option('--as <id>', 'the id to give it (default: its own)', parseThinIdArg)
    .option('-q, --quiet', 'print nothing but errors')
    .option('--json', 'print {device_id, as, mappings, left_out, details_found, written} when done')
    .action((o: { input: string; output: string; devId: number; as?: number; quiet?: boolean; json?: boolean }) =>
      run(() => {
        const md = Metadata.open(o.input);
        try {
          const scan = scanDeleted(md.reader, { onProgress: scanProgress(o.quiet || o.json) });
          const r = undelete(md, scan, o.devId, o.output, { as: o.as, inputs: [o.input] });
          const { built, ...done } = r;
          if (o.json) printJson({ ...done, written: built });
          else if (!o.quiet) {
            process.stderr.write(
              `wrote ${o.output}: deleted thin device ${r.deviceId} re-added as ${r.as} with ${r.mappings} mappings (${r.leftOut} left out: reallocated or unknown); ` +
                `details ${r.detailsFound ? 'from a surviving copy' : "not found: the pool's current time and transaction used"}\n`,
            );
          }
        } finally {
          md.close();
        }
        return 0;
      }),
    );
}
