import type { Command } from 'commander';
import { restore } from '../thin/restore/restore.js';
import { parseDataBlockSizeArg, parseIntArg, parseU64Arg } from './args.js';
import { announce } from './json.js';
import { run } from './run.js';

export function register(program: Command): void {
  program
    .command('restore')
    .summary('write metadata from thin_dump XML')
    .description(
      [
        'Builds fresh metadata from XML (as printed by thin_dump or `dmthin dump`, including the <def>/<ref> form of newer thin_dump). The output file or device must exist: its size sets the number of metadata blocks.',
        'Nothing is written to the output until the whole XML has been read and the new metadata built: a mistake in the XML, a value the kernel would refuse or an output too small leaves the output byte-identical. The superblock is written last, after a sync, so an interrupted write never leaves metadata that looks valid.',
      ].join('\n\n'),
    )
    .requiredOption('-i, --input <xml>', 'XML input file')
    .requiredOption('-o, --output <metadata>', 'metadata file or device to overwrite')
    .option('-q, --quiet', 'print nothing')
    .option('--json', 'print the result as one JSON object')
    .option('--transaction-id <n>', "write this transaction id instead of the XML's (any u64)", parseU64Arg)
    .option('--data-block-size <sectors>', "write this data block size (sectors, or a size such as 64k) instead of the XML's", parseDataBlockSizeArg)
    .option('--nr-data-blocks <n>', "write this data device size (blocks) instead of the XML's", parseIntArg)
    .action((opts: { input: string; output: string; quiet?: boolean; json?: boolean; transactionId?: bigint; dataBlockSize?: number; nrDataBlocks?: number }) =>
      run(() => {
        const r = restore(opts.input, opts.output, { transactionId: opts.transactionId, dataBlockSize: opts.dataBlockSize, nrDataBlocks: opts.nrDataBlocks });
        for (const w of r.warnings) process.stderr.write(`dmthin: warning: ${w}\n`);
        if (!opts.quiet) {
          announce(
            opts.json,
            `restored ${r.nrDevices} devices, ${r.nrMappings} mappings into ${r.metadataBlocksUsed} of ${r.metadataNrBlocks} metadata blocks`,
            { ...r },
            process.stderr,
          );
        }
        return 0;
      }),
    );
}
