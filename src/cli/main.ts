/**
 * The dmthin command line. Argument parsing only: every command calls the
 * library (src/thin, src/pdata) and maps its result to output and an exit
 * code.
 */
import { Command } from 'commander';
import { register as registerCheck } from './check.js';
import { register as registerDump } from './dump.js';
import { register as registerRestore } from './restore.js';
import { register as registerRepair } from './repair.js';
import { register as registerPool } from './pool.js';
import { register as registerLs } from './ls.js';
import { register as registerDelta } from './delta.js';
import { register as registerRmap } from './rmap.js';
import { register as registerMetadataSize } from './metadata-size.js';
import { register as registerTrim } from './trim.js';
import { register as registerReport } from './report.js';
import { register as registerExport } from './export.js';
import { register as registerDocker } from './docker.js';
import { register as registerPack } from './pack.js';
import { asDropIn, rewriteMetadataSnapArgs } from './util.js';

const program = new Command();
program
  .name('dmthin')
  .description('Tools for Linux device-mapper thin provisioning (dm-thin) metadata.')
  .version('0.1.0');

registerCheck(program);
registerDump(program);
registerRestore(program);
registerRepair(program);
registerLs(program);
registerDelta(program);
registerRmap(program);
registerMetadataSize(program);
registerTrim(program);
registerReport(program);
registerExport(program);
registerDocker(program);
registerPack(program);
registerPool(program);

// Bad arguments exit 2 (help and --version 0); findings exit 1, set by each command.
const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
for (const cmd of all(program)) {
  cmd.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
  cmd.configureOutput({ outputError: (s, write) => write(`dmthin: ${s.replace(/^error: /, '')}`) });
  cmd.showHelpAfterError('(run with --help for usage)');
}
// An empty argument (a script's unset variable) is ignored, as thin_repair does.
const argv = asDropIn(process.argv).filter((a, i) => i < 2 || a !== '');
await program.parseAsync(rewriteMetadataSnapArgs(argv));
