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
import { register as registerDiff } from './diff.js';
import { register as registerRmap } from './rmap.js';
import { register as registerMetadataSize } from './metadata-size.js';
import { register as registerTrim } from './trim.js';
import { register as registerReport } from './report.js';
import { register as registerExport } from './export.js';
import { register as registerDocker } from './docker.js';
import { register as registerContainerd } from './containerd.js';
import { register as registerPack } from './pack.js';
import { register as registerLvm } from './lvm.js';
import { register as registerUndelete } from './undelete.js';
import { register as registerStream } from './stream.js';
import { register as registerCompletion } from './completion.js';
import { register as registerDoctor } from './doctor.js';
import { register as registerShrink } from './shrink.js';
import { rewriteMetadataSnapArgs } from './args.js';
import { DROP_INS, asDropIn, dropInName } from './drop-ins.js';
import { unwrapParagraphs } from './help.js';
import { wantsJson } from './json.js';
import { reportError, setProgramName } from './run.js';
import { VERSION } from './version.js';
import { must } from '../errors.js';

const program = new Command();
program.name('dmthin').description('Tools for Linux device-mapper thin provisioning (dm-thin) metadata.').version(VERSION);

registerCheck(program);
registerDump(program);
registerRestore(program);
registerRepair(program);
registerDoctor(program);
registerLs(program);
registerDelta(program);
registerDiff(program);
registerRmap(program);
registerMetadataSize(program);
registerTrim(program);
registerShrink(program);
registerReport(program);
registerExport(program);
registerUndelete(program);
registerStream(program);
registerDocker(program);
registerContainerd(program);
registerPack(program);
registerPool(program);
registerLvm(program);
registerCompletion(program);

// An empty argument (a script's unset variable) is ignored, as thin_repair does.
const argv = rewriteMetadataSnapArgs(asDropIn(process.argv).filter((a, i) => i < 2 || a !== ''));
const dropIn = dropInName(process.argv);
setProgramName(dropIn ?? 'dmthin');

const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
for (const cmd of all(program)) {
  // Bad arguments exit 2 (help and --version 0); findings exit 1, set by each command.
  cmd.exitOverride((err) => {
    if (err.exitCode !== 0 && wantsJson(argv)) reportError(err.message.replace(/^error: /, ''), 'usage', 2);
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
  cmd.configureOutput({
    outputError: (s, write) => {
      if (!wantsJson(argv)) write(`${dropIn ?? 'dmthin'}: ${s.replace(/^error: /, '')}`);
    },
  });
  if (!wantsJson(argv)) cmd.showHelpAfterError('(run with --help for usage)');
  // Descriptions are written as paragraphs: let the help wrap them at the terminal's width.
  cmd.description(unwrapParagraphs(cmd.description()));
}

if (dropIn) {
  // As thin_check (and the rest), usage and errors name the program that was run.
  let target = program;
  for (const name of DROP_INS[dropIn].command)
    target = must(
      target.commands.find((c) => c.name() === name),
      `command ${name}`,
    );
  target.configureHelp({ commandUsage: (c) => `${dropIn} ${c.usage()}` });
} else if (argv.length <= 2) {
  // dmthin alone: what it can do, and success.
  program.outputHelp();
  process.exit(0);
}
// Not awaited: the bundle is CommonJS (src/build/bundle.mjs), which has no top-level await. Every action reports its own errors.
void program.parseAsync(argv);
