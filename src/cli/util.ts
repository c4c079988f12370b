/** What every command shares: exit codes and how errors reach the user. */
import { InvalidArgumentError } from 'commander';
import { MetadataError } from '../format/errors.js';
import { ArgumentError, UsageError } from '../errors.js';
import { MAX_THIN_ID } from '../format/device-details.js';
import { checkedDataBlockSize } from '../format/superblock.js';
import { parseBytes, parseCount, parseSectors, parseU64 } from '../format/units.js';
import { errnoWords } from '../io/files.js';
import { CommandError } from '../driver/exec.js';

export const VERSION = '0.1.0';

/** Whether the command line asked for JSON: errors then go to stderr as a JSON object too. */
export function wantsJson(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--json') || argv.some((a, i) => (a === '-f' || a === '--format') && argv[i + 1] === 'json') || argv.includes('--format=json');
}

/** camelCase -> snake_case (the names the kernel and thin-provisioning-tools use). */
export function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** A value with every object key in snake_case, for --json output. */
export function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), snakeKeys(x)]));
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [snakeCase(k), snakeKeys(x)]),
    );
  }
  return v;
}

/** The one way commands print --json: snake_case keys, one object, a final newline. */
export function printJson(value: unknown, stream: NodeJS.WriteStream = process.stdout, indent = 2): void {
  stream.write(`${jsonText(snakeKeys(value), indent)}\n`);
}

/** JSON.stringify that writes bigints (u64 transaction ids) as plain JSON numbers, every digit kept. */
export function jsonText(value: unknown, indent = 0): string {
  const text = JSON.stringify(value, (_k, x: unknown) => (typeof x === 'bigint' ? `@@u64:${x}@@` : x), indent);
  return text.replace(/"@@u64:(\d+)@@"/g, '$1');
}

/**
 * Rows of cells as aligned lines, two spaces between columns: the first
 * `rightAligned` columns padded on the left (numbers), the rest on the
 * right; no trailing blanks.
 */
export function alignColumns(rows: readonly string[][], rightAligned = 0): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]!.length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => (i < rightAligned ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * What a command did: `text` on `stream` for a person, or with --json the
 * same as `value` on stdout (on stderr when `output` is '-', where the data goes).
 */
export function announce(json: boolean | undefined, text: string, value: object, stream: NodeJS.WriteStream = process.stdout, output?: string): void {
  if (json) printJson(value, output === '-' ? process.stderr : process.stdout, 0);
  else stream.write(`${text}\n`);
}

/**
 * Prints a failure: one line `dmthin: what is wrong`, or with --json one
 * object `{"error": {"kind", "message", "exit_code"}}` on stderr.
 */
export function reportError(message: string, kind: string, exitCode: number): void {
  if (wantsJson()) process.stderr.write(`${JSON.stringify({ error: { kind, message, exit_code: exitCode } })}\n`);
  else process.stderr.write(`${programName}: ${message}\n`);
}

let programName = 'dmthin';

/** The name errors start with: dmthin, or the thin_* name it was run as. */
export function setProgramName(name: string): void {
  programName = name;
}

/**
 * Joins the hard-wrapped lines of each paragraph (a blank line separates
 * paragraphs; lines starting with space or "-" stay as they are), so that
 * help text wraps at the terminal's width instead of mid-sentence.
 */
export function unwrapParagraphs(text: string): string {
  return text.replace(/([^\n])\n(?=[^\n\s-])/g, '$1 ');
}

/**
 * Runs a command body; an error becomes one line on stderr (never a stack
 * trace, never Node's internals) and exit code 2 for a wrong argument, 1
 * for anything else. DMTHIN_DEBUG=1 adds the stack of unexpected errors.
 */
export function run(body: () => number | Promise<number>): Promise<void> {
  return Promise.resolve()
    .then(body)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        const code = e instanceof ArgumentError ? 2 : 1;
        const err = e as NodeJS.ErrnoException;
        if (e instanceof UsageError || e instanceof MetadataError || e instanceof CommandError) {
          reportError(
            err.message,
            e instanceof ArgumentError ? 'usage' : e instanceof MetadataError ? 'metadata' : e instanceof CommandError ? 'command' : 'failed',
            code,
          );
        } else if (err && typeof err.code === 'string' && err.syscall) {
          reportError(`${err.syscall === 'open' ? 'cannot open' : `${err.syscall} failed on`} ${err.path ?? 'a file'}: ${errnoWords(err)}`, 'system', code);
        } else if (e instanceof Error && e.constructor === Error) {
          // A plain Error carries a message meant for people (a kernel refusal, an injected fault).
          reportError(e.message, 'failed', code);
        } else {
          // A bug (TypeError, RangeError, ...): say so plainly; the stack only on request.
          reportError(`internal error: ${err?.message ?? String(e)} (please report it; DMTHIN_DEBUG=1 shows where)`, 'internal', code);
          if (process.env.DMTHIN_DEBUG) process.stderr.write(`${err?.stack}\n`);
        }
        process.exitCode = code;
      },
    );
}

/**
 * An option parser for commander: a value our parsers reject becomes
 * commander's "invalid argument" (exit 2), never an uncaught exception.
 */
export function arg<T>(parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof UsageError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

export const parseIntArg = arg((v) => parseCount(v, 'value'));

/** A u64 in full (transaction ids). */
export const parseU64Arg = arg((v) => parseU64(v, 'value'));

/** A thin id argument: 0..2^24-1. */
export const parseThinIdArg = arg((v) => parseCount(v, 'thin id', MAX_THIN_ID));

/** A size in bytes (lvm's units; a bare number is bytes). */
export const parseSizeArg = arg((v) => parseBytes(v, 'size'));

/** A device size in whole sectors (a bare number is bytes, as for the driver's other sizes). */
export const parseSectorsArg = arg((v) => parseSectors(v, 'size'));

/** A data block size in sectors, as the kernel allows it (a bare number is sectors). */
export const parseDataBlockSizeArg = arg((v) => checkedDataBlockSize(parseSectors(v, 'data block size', 512)));

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
    const a = argv[i];
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
 * Each maps to a command path and, where the names differ, its options.
 */
export const DROP_INS: Record<string, { command: string[]; options?: Record<string, string | null> }> = {
  thin_check: { command: ['check'] },
  thin_dump: { command: ['dump'] },
  thin_restore: { command: ['restore'] },
  thin_repair: { command: ['repair'] },
  thin_ls: { command: ['ls'], options: { '-o': '--format' } },
  thin_delta: { command: ['delta'] },
  thin_rmap: { command: ['rmap'] },
  thin_metadata_size: { command: ['metadata-size'] },
  thin_trim: { command: ['trim'], options: { '--metadata-dev': '--metadata', '--data-dev': '--data', '--pool-inactive': null } },
  thin_metadata_pack: { command: ['metadata', 'pack'] },
  thin_metadata_unpack: { command: ['metadata', 'unpack'] },
};

/** The drop-in name dmthin was started as, if any. */
export function dropInName(argv: readonly string[]): string | undefined {
  const name = (argv[1] ?? '')
    .split('/')
    .pop()!
    .replace(/\.m?js$/, '');
  return DROP_INS[name] ? name : undefined;
}

/** argv rewritten for a drop-in: its command path first, its option names translated. */
export function asDropIn(argv: readonly string[]): string[] {
  const name = dropInName(argv);
  if (!name) return [...argv];
  const d = DROP_INS[name];
  const rest: string[] = [];
  for (const a of argv.slice(2)) {
    const [opt, value] = a.split(/=(.*)/s, 2) as [string, string | undefined];
    if (d.options && opt in d.options) {
      const to = d.options[opt];
      if (to) rest.push(value === undefined ? to : `${to}=${value}`);
    } else {
      rest.push(a);
    }
  }
  if (rest.includes('-V') || rest.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    process.exit(0);
  }
  return [argv[0], argv[1], ...d.command, ...rest];
}

/** A TTY progress line for the block scan; nothing when stderr is not a terminal. */
export function scanProgress(quiet: boolean | undefined): ((done: number, total: number) => void) | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  return (done, total) => {
    process.stderr.write(`\rscanning metadata blocks: ${Math.floor((100 * done) / Math.max(total, 1))}%`);
    if (done >= total) process.stderr.write('\n');
  };
}
