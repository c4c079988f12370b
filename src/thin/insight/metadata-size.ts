/**
 * The metadata size estimate of thin_metadata_size (0.9): one 4 KiB block
 * per 252 mappings, doubled because B-tree nodes are not full on average,
 * plus a block per thin device, plus the superblock:
 * `(1 + 2 * pool_sectors / block_sectors / 252 + max_thins) * 4096` bytes,
 * with integer division.
 */
import { ArgumentError } from '../../errors.js';
import { parseCount } from '../../format/units.js';

export const UNIT_CHARS = 'bskKmMgGtTpPeEzZyY';
export const UNIT_NAMES = [
  'bytes',
  'sectors',
  'kibibytes',
  'kilobytes',
  'mebibytes',
  'megabytes',
  'gibibytes',
  'gigabytes',
  'tebibytes',
  'terabytes',
  'pebibytes',
  'petabytes',
  'ebibytes',
  'exabytes',
  'zebibytes',
  'zetabytes',
  'yobibytes',
  'yottabytes',
];
/** Bytes per unit, by index: b, s, then binary and decimal pairs. */
export const UNIT_FACTORS: number[] = (() => {
  const f = [1, 512, 1024, 1000];
  for (let u = 4; u < UNIT_NAMES.length; u += 2) {
    f[u] = f[u - 2] * 1024;
    f[u + 1] = f[u - 1] * 1000;
  }
  return f;
})();

/** A unit by its letter or by a prefix of its name ("s", "sectors", "mebi"). */
export function unitIndex(text: string): number {
  if (text.length === 1) {
    const i = UNIT_CHARS.indexOf(text);
    if (i >= 0) return i;
  }
  const i = UNIT_NAMES.findIndex((n) => n.startsWith(text));
  if (i < 0 || text === '') throw new ArgumentError(`unknown unit '${text}': use one of ${UNIT_CHARS} or a unit name`);
  return i;
}

export interface SizeArg {
  /** The value in sectors (block and pool sizes) or count (thins). */
  value: number;
  /** The argument as thin_metadata_size echoes it: the number and unit name. */
  echo: string;
}

/** Parses "64k", "1t", "128" (sectors) for block and pool sizes. */
export function parseSizeArg(text: string, what: string, asCount = false): SizeArg {
  const m = /^(\d+)(.*)$/.exec(text);
  if (!m) throw new ArgumentError(`${what} '${text}' is not a number with an optional unit`);
  const n = parseCount(m[1], what);
  if (m[2] === '') {
    return { value: n, echo: asCount ? m[1] : `${m[1]}sectors` };
  }
  const u = unitIndex(m[2]);
  const bytes = n * UNIT_FACTORS[u];
  return { value: asCount ? bytes : Math.floor(bytes / 512), echo: `${m[1]}${UNIT_NAMES[u]}` };
}

export function estimateMetadataBytes(blockSectors: number, poolSectors: number, maxThins: number): number {
  if (blockSectors <= 0 || (blockSectors & (blockSectors - 1)) !== 0) throw new ArgumentError('block size must be 2^^N');
  if (poolSectors <= blockSectors) throw new ArgumentError('pool size must be larger than block size');
  if (maxThins <= 0) throw new ArgumentError('max thins required!');
  const blocks = 1 + (Math.floor(Math.floor((2 * poolSectors) / blockSectors) / 252) + maxThins);
  return blocks * 8 * 512;
}

/** printf's %0.2f / %0.2e / integer choice, as the C tool makes it. */
export function formatEstimate(value: number): string {
  const t = Math.floor(value);
  if (value === t) return String(t);
  if (value - t < 1e-2) {
    const [mant, exp] = value.toExponential(2).split('e');
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return value.toFixed(2);
}
