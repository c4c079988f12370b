/** Parsers of option values for commander, and argv rewriting for thin_dump's -m BLOCK. */
import { InvalidArgumentError } from 'commander';
import { ArgumentError, UsageError } from '../errors.js';
import { MAX_THIN_ID } from '../format/device-details.js';
import { checkedDataBlockSize } from '../format/superblock.js';
import { parseBytes, parseCount, parseSectors, parseU64 } from '../format/units.js';

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
 * The metadata of a verb that takes it as its argument or as --metadata
 * (doctor, diff): one of them, or both the same; `usage` is the form to
 * show when neither is given.
 */
export function metadataArg(positional: string | undefined, option: string | undefined, usage: string): string {
  if (positional !== undefined && option !== undefined && positional !== option)
    throw new ArgumentError(`two metadata given (${positional} and --metadata ${option}): give one`);
  const metadata = option ?? positional;
  if (metadata === undefined) throw new ArgumentError(`no metadata given: ${usage}`);
  return metadata;
}
