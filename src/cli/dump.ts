import { type Command, Option } from 'commander';
import { Output } from '../io/output.js';
import { dumpToOutput, type DumpFormat } from '../thin/dump-format.js';
import { Metadata } from '../thin/metadata.js';
import { collectInt, parseIntArg, run } from './util.js';

export function register(program: Command): void {
  program
    .command('dump')
    .summary('print metadata as thin_dump XML, human-readable text or JSON')
    .description(
      'Prints the devices and mappings of pool metadata (a file or an inactive device).\n' +
        'The XML is byte-identical to thin_dump 0.9 and can be fed to `dmthin restore` or thin_restore.',
    )
    .argument('<metadata>', 'metadata file or device')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['xml', 'human_readable', 'json']).default('xml'))
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .option('-m, --metadata-snap', 'dump the held metadata snapshot (`-m BLOCK` names its block)')
    .addOption(new Option('--metadata-snap-at <block>').hideHelp().argParser(parseIntArg))
    .option('--dev-id <id>', 'only this thin device (repeatable)', collectInt, [] as number[])
    .option('--skip-mappings', 'devices only, no mappings')
    .action((metadata: string, opts: { format: string; output?: string; metadataSnap?: boolean; metadataSnapAt?: number; devId: number[]; skipMappings?: boolean }) =>
      run(() => {
        const format = opts.format as DumpFormat;
        const md = Metadata.open(metadata, { metadataSnap: opts.metadataSnapAt ?? opts.metadataSnap });
        const out = opts.output ? Output.toFile(opts.output) : Output.stdout();
        try {
          dumpToOutput(md, out, format, { devIds: opts.devId.length ? opts.devId : undefined, skipMappings: opts.skipMappings });
        } finally {
          out.close();
          md.close();
        }
        return 0;
      }),
    );
}
