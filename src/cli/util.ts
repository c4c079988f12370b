/** What every command shares: exit codes and how errors reach the user. */
import { InvalidArgumentError } from 'commander';
import { MetadataError, UsageError } from '../format/errors.js';
import { CommandError } from '../driver/exec.js';

/**
 * Runs a command body; a known error becomes one line on stderr and exit
 * code 1, never a stack trace. Unknown errors keep their stack under
 * DMTHIN_DEBUG=1.
 */
export function run(body: () => number | Promise<number>): Promise<void> {
  return Promise.resolve()
    .then(body)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        const err = e as NodeJS.ErrnoException;
        if (e instanceof UsageError || e instanceof MetadataError || e instanceof CommandError) {
          process.stderr.write(`dmthin: ${err.message}\n`);
        } else if (err && typeof err.code === 'string' && err.syscall) {
          process.stderr.write(`dmthin: ${err.syscall} ${err.path ?? ''}: ${err.code}\n`);
        } else {
          process.stderr.write(`dmthin: ${err?.message ?? String(e)}\n`);
          if (process.env.DMTHIN_DEBUG) process.stderr.write(`${err?.stack}\n`);
        }
        process.exitCode = 1;
      },
    );
}

export function parseIntArg(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`'${v}' is too large`);
  return n;
}

/** A thin id argument: 0..2^24-1. */
export function parseThinIdArg(v: string): number {
  const n = parseIntArg(v);
  if (n > 0xffffff) throw new InvalidArgumentError(`thin id ${v} is out of range: ids are 0..16777215 (24 bits)`);
  return n;
}

export function collectInt(v: string, prev: number[]): number[] {
  return [...prev, parseIntArg(v)];
}

/**
 * thin_dump and thin_check take `-m [BLOCK]`: the block is optional, so a
 * parser cannot tell `-m 1234` from `-m FILE`. A number right after -m is
 * its block: rewrite that pair to a hidden `--metadata-snap-at=N`.
 */
export function rewriteMetadataSnapArgs(argv: readonly string[]): string[] {
  // Only where -m means --metadata-snap (metadata-size's -m is --max-thins).
  if (!['dump', 'delta'].includes(argv[2] ?? '')) return [...argv];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if ((a === '-m' || a === '--metadata-snap') && next !== undefined && /^\d+$/.test(next)) {
      out.push(`--metadata-snap-at=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Invoked through a symlink named like a thin-provisioning-tools program
 * (thin_check, thin_dump, ...), dmthin behaves as that program: LVM runs
 * its configured thin_check as `thin_check -q --clear-needs-check-flag DEV`.
 */
const DROP_IN: Record<string, string> = {
  thin_check: 'check',
  thin_dump: 'dump',
  thin_restore: 'restore',
  thin_repair: 'repair',
  thin_ls: 'ls',
  thin_delta: 'delta',
  thin_rmap: 'rmap',
  thin_metadata_size: 'metadata-size',
};

export function asDropIn(argv: readonly string[]): string[] {
  const name = (argv[1] ?? '').split('/').pop()!.replace(/\.m?js$/, '');
  const cmd = DROP_IN[name];
  if (!cmd) return [...argv];
  const rest = argv.slice(2);
  if (rest.includes('-V') || rest.includes('--version')) {
    process.stdout.write('0.1.0\n');
    process.exit(0);
  }
  return [argv[0]!, argv[1]!, cmd, ...rest];
}

/** A TTY progress line for the block scan; nothing when stderr is not a terminal. */
export function scanProgress(quiet: boolean | undefined): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(`\rscanning metadata blocks: ${Math.floor((100 * done) / Math.max(total, 1))}%`);
    if (done >= total) process.stderr.write('\n');
  };
}
