import type { Command } from 'commander';
import { restore } from '../thin/restore.js';
import { parseIntArg, run } from './util.js';

export function register(program: Command): void {
  program
    .command('restore')
    .summary('write metadata from thin_dump XML')
    .description(
      'Builds fresh metadata from XML (as printed by thin_dump or `dmthin dump`, including the\n' +
        '<def>/<ref> form of newer thin_dump). The output file or device must exist: its size\n' +
        'sets the number of metadata blocks. The superblock is written last, after a sync, so\n' +
        'an interrupted restore never leaves metadata that looks valid.',
    )
    .requiredOption('-i, --input <xml>', 'XML input file')
    .requiredOption('-o, --output <metadata>', 'metadata file or device to overwrite')
    .option('-q, --quiet', 'print nothing')
    .option('--transaction-id <n>', 'write this transaction id instead of the XML\'s', parseIntArg)
    .option('--data-block-size <sectors>', 'write this data block size (sectors) instead of the XML\'s', parseIntArg)
    .option('--nr-data-blocks <n>', 'write this data device size (blocks) instead of the XML\'s', parseIntArg)
    .action((opts: { input: string; output: string; quiet?: boolean; transactionId?: number; dataBlockSize?: number; nrDataBlocks?: number }) =>
      run(() => {
        const r = restore(opts.input, opts.output, { transactionId: opts.transactionId, dataBlockSize: opts.dataBlockSize, nrDataBlocks: opts.nrDataBlocks });
        if (!opts.quiet) {
          process.stderr.write(
            `restored ${r.nrDevices} devices, ${r.nrMappings} mappings into ${r.metadataBlocksUsed} of ${r.metadataNrBlocks} metadata blocks\n`,
          );
        }
        return 0;
      }),
    );
}
