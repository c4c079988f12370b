import type { Command } from 'commander';
import { pack, unpack } from '../pack/pack.js';
import { announce } from './json.js';
import { registerResize } from './metadata-resize.js';
import { run } from './run.js';

export function register(program: Command): void {
  const md = program.command('metadata').description('metadata files as a whole');
  md.command('pack')
    .description("compresses metadata into thin_metadata_pack's format (only blocks with a valid checksum are kept)")
    .requiredOption('-i, --input <metadata>', 'metadata file or device')
    .requiredOption('-o, --output <file>', 'pack file to write')
    .option('--json', 'print the result as one JSON object')
    .action((o: { input: string; output: string; json?: boolean }) =>
      run(() => {
        const r = pack(o.input, o.output);
        announce(o.json, `packed ${r.packedBlocks} of ${r.nrBlocks} blocks into ${r.bytes} bytes`, r, process.stderr);
        return 0;
      }),
    );
  md.command('unpack')
    .description('expands a thin_metadata_pack file (from dmthin or thin-provisioning-tools) into metadata')
    .requiredOption('-i, --input <file>', 'pack file')
    .requiredOption('-o, --output <metadata>', 'metadata file to write')
    .option('--json', 'print the result as one JSON object')
    .action((o: { input: string; output: string; json?: boolean }) =>
      run(() => {
        const r = unpack(o.input, o.output);
        announce(o.json, `unpacked ${r.blocks} blocks into ${r.nrBlocks} blocks of metadata`, r, process.stderr);
        return 0;
      }),
    );
  registerResize(md);
}
