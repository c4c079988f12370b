import { type Command, Option } from 'commander';
import { Output } from '../io/output.js';
import { delta, deltaRoots } from '../thin/delta/delta.js';
import { deltaSummary } from '../thin/delta/delta-summary.js';
import { DELTA_FOOTER, JsonDeltaWriter, SimpleDeltaWriter, VerboseDeltaWriter, deltaHeader } from '../thin/delta/delta-writers.js';
import { filesSource, openMetadata, type PoolSource } from '../thin/pool-source.js';
import { parseIntArg, parseThinIdArg } from './args.js';
import { printJson } from './json.js';
import { withPoolSource } from './pool-verb.js';
import { validateTrees } from '../thin/damage.js';
import { run } from './run.js';

export interface DeltaFlags {
  snap1: number;
  snap2: number;
  metadataSnap?: boolean;
  metadataSnapAt?: number;
  verbose?: boolean;
  summary?: boolean;
  format: string;
  json?: boolean;
}

export const DELTA_DESCRIPTION =
  'Compares the mappings of two thin devices (typically two snapshots, for incremental backup):\n' +
  'ranges of virtual blocks that are the same, different, or mapped on one side only.\n' +
  "The XML is thin_delta 0.9's; --verbose adds data blocks; --format json gives\n" +
  '[kind, begin, length, left_data, right_data] rows.';

export function register(program: Command): void {
  const cmd = program.command('delta').summary('what changed between two thin devices, as thin_delta').description(DELTA_DESCRIPTION).argument('<metadata>');
  deltaOptions(cmd).action((metadata: string, o: DeltaFlags) => run(() => withPoolSource(filesSource(metadata), (source) => deltaAction(source, o))));
}

export function deltaOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--snap1 <id>', 'left thin device (also --thin1)', parseThinIdArg)
    .requiredOption('--snap2 <id>', 'right thin device (also --thin2)', parseThinIdArg)
    .addOption(new Option('--thin1 <id>').hideHelp().argParser(parseThinIdArg))
    .addOption(new Option('--thin2 <id>').hideHelp().argParser(parseThinIdArg))
    .option('-m, --metadata-snap', 'use the held metadata snapshot')
    .addOption(new Option('--metadata-snap-at <block>').hideHelp().argParser(parseIntArg))
    .option('--verbose', 'list every range with its data blocks')
    .option('--summary', 'only count same/different/left_only/right_only blocks, skipping shared subtrees unread (JSON with --format json)')
    .addOption(new Option('-f, --format <format>').choices(['xml', 'json']).default('xml'))
    .option('--json', 'the same as --format json');
}

export function deltaAction(source: PoolSource, o: DeltaFlags): number {
  if (o.json) o.format = 'json';
  const md = openMetadata(source, { metadataSnap: o.metadataSnapAt ?? o.metadataSnap });
  if (o.summary) {
    try {
      const s = deltaSummary(md, o.snap1, o.snap2);
      if (o.format === 'json') printJson(s, process.stdout, 0);
      else {
        process.stdout.write(
          `thin ${s.left} -> thin ${s.right}: ${s.same} blocks same, ${s.different} different, ${s.leftOnly} only in ${s.left}, ${s.rightOnly} only in ${s.right}\n`,
        );
        process.stdout.write(`(read ${s.leavesRead} leaves; skipped ${s.sharedSubtreesSkipped} shared subtrees unread)\n`);
      }
    } finally {
      md.close();
    }
    return 0;
  }
  try {
    // Fail before printing anything: both devices there, and both trees whole (standard output cannot be taken back).
    const roots = deltaRoots(md, o.snap1, o.snap2);
    validateTrees(md, [o.snap1, o.snap2]);
    const out = Output.stdout();
    if (o.format === 'json') {
      delta(md, o.snap1, o.snap2, new JsonDeltaWriter(out, o.snap1, o.snap2), roots);
    } else {
      out.text(deltaHeader(md, o.snap1, o.snap2));
      delta(md, o.snap1, o.snap2, o.verbose ? new VerboseDeltaWriter(out) : new SimpleDeltaWriter(out), roots);
      out.text(DELTA_FOOTER);
    }
    // Flushed only when whole.
    out.close();
  } finally {
    md.close();
  }
  return 0;
}
