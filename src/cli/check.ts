import type { Command } from 'commander';
import { describeFinding, type Finding } from '../thin/check/check.js';
import { checkAndFix } from '../thin/check/check-and-fix.js';
import { filesSource, metadataName, type PoolSource } from '../thin/pool-source.js';
import { parseIntArg } from './args.js';
import { printJson } from './json.js';
import { run } from './run.js';

export interface CheckFlags {
  metadataSnap?: boolean;
  overrideMappingRoot?: number;
  overrideDetailsRoot?: number;
  clearNeedsCheckFlag?: boolean;
  autoRepair?: boolean;
  quiet?: boolean;
  superBlockOnly?: boolean;
  skipMappings?: boolean;
  ignoreNonFatalErrors?: boolean;
  json?: boolean;
}

export const CHECK_DESCRIPTION =
  'Checks the superblock, device details, every mapping tree (and a held metadata snapshot),\n' +
  'and both space maps against reference counts computed from the trees.\n' +
  'Exit status: 0 clean, 1 errors found (leaked blocks alone count only without\n' +
  '--ignore-non-fatal-errors), 2 bad arguments.';

/** check's options; `writes` adds the two that write into the metadata (not for LVM images). */
export function checkOptions(cmd: Command, writes: boolean): Command {
  cmd
    .option('-q, --quiet', 'print nothing; the exit status says it all')
    .option('--super-block-only', 'check only the superblock')
    .option('--skip-mappings', 'skip the mapping trees and the space map counts')
    .option('--ignore-non-fatal-errors', 'exit 0 when the only findings are non-fatal (leaked blocks)')
    .option('-m, --metadata-snap', "check the held metadata snapshot's trees (fails if there is none)")
    .option('--override-mapping-root <block>', "use this mapping tree root instead of the superblock's", parseIntArg)
    .option('--override-details-root <block>', "use this device details root instead of the superblock's", parseIntArg);
  if (writes) {
    cmd
      .option('--clear-needs-check-flag', "after a clean check, clear the superblock's NEEDS_CHECK flag (leaked blocks are given back first)")
      .option('--auto-repair', 'give back leaked blocks (the only repair check makes)');
  }
  return cmd.option('--json', 'print the result as one JSON object');
}

export function register(program: Command): void {
  const cmd = program
    .command('check')
    .summary('verify metadata as thin_check does')
    .description(CHECK_DESCRIPTION)
    .argument('<metadata>', 'metadata file or inactive metadata device');
  checkOptions(cmd, true).action((metadata: string, opts: CheckFlags) => run(() => checkAction(filesSource(metadata), opts)));
}

export function checkAction(source: PoolSource, opts: CheckFlags): number {
  const tty = process.stderr.isTTY && !opts.quiet && !opts.json;
  const stage = opts.quiet || opts.json ? undefined : (s: string): void => void process.stderr.write(`${s}${tty ? '...' : ''}\n`);
  const done = checkAndFix(source, { ...opts, onStage: stage });
  const r = done.result;
  const code = done.exitCode;
  const say = (m: string): void => {
    if (!opts.quiet && !opts.json) process.stderr.write(`${m}\n`);
  };
  if (done.gaveBack) say(`gave back ${done.gaveBack.data} leaked data blocks and ${done.gaveBack.metadata} leaked metadata blocks`);
  if (done.clearedNeedsCheck) say('cleared the needs_check flag');
  if (opts.json) {
    printJson({ ...r, clearedNeedsCheck: done.clearedNeedsCheck, gaveBack: done.gaveBack ?? null, exitCode: code });
  } else if (!opts.quiet) {
    for (const f of r.findings) process.stderr.write(`${formatFinding(f)}\n`);
    // Only damage is worth a repair: not a file that cannot be read at all.
    if (r.findings.some((f) => f.severity === 'fatal' && f.area !== 'input') && !opts.metadataSnap) {
      // With trees damaged, blocks counted used and mapped by nothing are where the lost mappings' data may still be: a repair frees them.
      const unused = r.unusedData?.length ?? r.leakedDataBlocks ?? 0;
      if (unused && r.findings.some((f) => f.severity === 'fatal' && (f.area === 'mappings' || f.area === 'devices')))
        process.stderr.write(
          `note: with the mapping trees damaged, the ${unused} data blocks counted used and mapped by nothing (leaked, or held by lost nodes only) may hold the lost mappings' data, and the repaired pool would hand out those a repair does not map again: save them first${source.doctorCommand ? `; ${source.doctorCommand} names which the repair leaves unmapped, what each may hold, and the steps in order` : ''}\n`,
        );
      process.stderr.write(`to rebuild it into a new file or device (this one is only read): ${source.repairCommand}; see \`dmthin repair --help\`\n`);
    }
    if (r.needsCheck && !done.clearedNeedsCheck) {
      process.stderr.write(
        `note: the superblock's NEEDS_CHECK flag is set (the kernel met an error: it keeps the pool read-only until a check clears the flag)${code !== 0 ? '; it stays set until the metadata checks clean' : source.writable ? `; this check is clean: dmthin check --clear-needs-check-flag ${metadataName(source)} clears it` : '; this check is clean: lvm2 clears it when it activates the pool (its default thin_check_options include --clear-needs-check-flag)'}\n`,
      );
    }
    if (r.transactionId !== undefined) process.stdout.write(`TRANSACTION_ID=${r.transactionId}\n`);
    if (r.metadataFreeBlocks !== undefined) process.stdout.write(`METADATA_FREE_BLOCKS=${r.metadataFreeBlocks}\n`);
  }
  return code;
}

export function formatFinding(f: Finding): string {
  const tag = f.severity === 'fatal' ? 'error' : f.severity === 'note' ? 'note' : 'warning';
  return `  ${tag} (${f.area}): ${describeFinding(f)}`;
}
