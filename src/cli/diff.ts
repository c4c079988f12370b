/**
 * dmthin diff: what changed between two thin devices, in files, as
 * `docker diff` lists them (A, C, D and the path).
 */
import type { Command } from 'commander';
import { ArgumentError } from '../errors.js';
import { type DiffSide, type FileDiff, type FileDiffOptions, type RecoveredSide, fileDiff } from '../thin/file-diff.js';
import { type PoolSource, filesSource } from '../thin/pool-source.js';
import { metadataArg, parseThinIdArg } from './args.js';
import { printJson } from './json.js';
import { withPoolSource } from './pool-verb.js';
import { run } from './run.js';

export interface DiffFlags {
  metadata?: string;
  data?: string;
  snap1: number;
  snap2: number;
  json?: boolean;
}

export const DIFF_DESCRIPTION =
  'What changed between two thin devices holding the same filesystem (a snapshot and its origin), in files,\n' +
  'as docker diff lists them: "A path" added, "C path" changed (a directory whose entries changed too),\n' +
  '"D path" deleted; a rename is a D and an A. Only the blocks the two devices map differently are read,\n' +
  'with the inodes and directories they lead to: never the whole device. ext2/3/4 and XFS; for an\n' +
  'unknown filesystem it says so in one line, and dmthin delta gives the block ranges.\n' +
  'A removed device (a deleted thin id whose tree survives in the metadata: dmthin ls --deleted) is compared as\n' +
  'recovery brings it back: its vouched-for blocks read, the rest as zeros (said, with their count).\n' +
  'Nothing is mounted and nothing written.\n\n' +
  'Exit status: 0 answered (changes or none), 1 could not answer, 2 bad arguments.';

export function register(program: Command): void {
  program
    .command('diff')
    .summary('what changed between two thin devices, in files (as docker diff)')
    .description(DIFF_DESCRIPTION)
    .argument('[metadata]', 'metadata file or inactive metadata device (or --metadata)')
    .option('--metadata <metadata>', 'metadata file or inactive metadata device')
    .option('--data <data>', "the pool's data file or device (needed: files are read from it)")
    .requiredOption('--snap1 <id>', 'the thin device before (the snapshot)', parseThinIdArg)
    .requiredOption('--snap2 <id>', 'the thin device after (the origin)', parseThinIdArg)
    .option('--json', 'print {filesystem, changes[].{kind, path, inode, size_before, size_after}, changed_bytes, bytes_read}')
    .action((positional: string | undefined, o: DiffFlags) =>
      run(() => {
        const metadata = metadataArg(positional, o.metadata, 'dmthin diff --metadata M --data D --snap1 A --snap2 B');
        if (o.data === undefined) throw new ArgumentError('no --data given: the files are read from the pool data device (--data D)');
        return withPoolSource(filesSource(metadata, o.data), (source) =>
          diffAction(source, { devId: o.snap1, name: `thin ${o.snap1}` }, { devId: o.snap2, name: `thin ${o.snap2}` }, o),
        );
      }),
    );
}

/** Prints a file-level diff; shared by dmthin diff, lvm diff and docker diff. */
export function diffAction(source: PoolSource, before: DiffSide, after: DiffSide, o: { json?: boolean }, options: FileDiffOptions = {}): number {
  const r = fileDiff(source, before, after, options);
  if (o.json) {
    printJson(diffJson(r));
    return 0;
  }
  const letter = { added: 'A', changed: 'C', deleted: 'D' } as const;
  for (const x of r.recovered ?? []) process.stderr.write(`${recoveredText(x)}\n`);
  process.stdout.write(r.changes.map((c) => `${letter[c.kind]} ${c.path}\n`).join(''));
  process.stderr.write(
    `${before.name} -> ${after.name}: ${r.filesystem}; ${r.changes.length} change(s); ${r.changedBytes} bytes mapped differently, ${r.bytesRead} bytes read` +
      (r.unattributedBlocks ? `; ${r.unattributedBlocks} changed block(s) in use that no file claims` : '') +
      '\n',
  );
  return 0;
}

/** How a removed device was read, for a person. */
function recoveredText(x: RecoveredSide): string {
  const withheld = x.withheldBlocks
    ? `; ${x.withheldBlocks} of its mapped blocks were reallocated since or are of unknown fate: read as zeros, so changes there may be the removal's, not the filesystem's (dmthin export --deleted ${x.deviceId} --json lists them)`
    : '';
  return `${x.name} is a removed device: read as recovery brings it back, ${x.vouchedBlocks} mapped blocks vouched for${withheld}`;
}

function diffJson(r: FileDiff): unknown {
  return {
    filesystem: r.filesystem,
    changes: r.changes.map((c) => ({ kind: c.kind, path: c.path, inode: c.inode, sizeBefore: c.sizeBefore ?? null, sizeAfter: c.sizeAfter ?? null })),
    changedBytes: r.changedBytes,
    bytesRead: r.bytesRead,
    unattributedBlocks: r.unattributedBlocks,
    ...(r.recovered ? { recovered: r.recovered } : {}),
  };
}
