#!/usr/bin/env node
/**
 * The dmthin command line. Argument parsing only: every command calls the
 * library (src/thin, src/pdata) and maps its result to output and an exit
 * code.
 */
import { Command } from 'commander';
import { register as registerCheck } from './check.js';
import { register as registerDump } from './dump.js';
import { register as registerRestore } from './restore.js';
import { rewriteMetadataSnapArgs } from './util.js';

const program = new Command();
program
  .name('dmthin')
  .description('Tools for Linux device-mapper thin provisioning (dm-thin) metadata.')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (s, write) => write(`dmthin: ${s.replace(/^error: /, '')}`) });

registerCheck(program);
registerDump(program);
registerRestore(program);

program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});
await program.parseAsync(rewriteMetadataSnapArgs(process.argv));
