/**
 * Numbers and sizes as admins type them, parsed in one place for every
 * command.
 *
 * Counts and block numbers are decimal digits only; u64 fields (transaction
 * ids, as thin-provisioning-tools takes them) keep all 64 bits as a bigint,
 * up to 18446744073709551615.
 *
 * Sizes are a number (a decimal fraction allowed where the result is whole)
 * and an optional unit, as lvcreate -L takes them (lvm2's _size_arg folds
 * the case): b (bytes), s (512-byte sectors), k m g t p e in either case
 * for powers of 1024, also written KiB, MiB, ... or KB, MB, ... (still
 * 1024: dmthin never silently switches to powers of 1000). A bare number
 * is in the caller's default unit (bytes unless it says).
 * `metadata-size` keeps thin_metadata_size's own unit letters, where k and
 * K differ (thin/insight/metadata-size.ts).
 */
import { ArgumentError } from '../errors.js';

export const U64_MAX = 0xffffffffffffffffn;

const POWERS = 'kmgtpe';

/** Bytes per unit, or undefined for an unknown unit. */
export function unitBytes(unit: string): number | undefined {
  if (unit === 'b' || unit === 'B') return 1;
  if (unit === 's' || unit === 'S') return 512;
  const lower = unit.toLowerCase();
  const p = POWERS.indexOf(lower[0] ?? '');
  if (p < 0) return undefined;
  const rest = lower.slice(1);
  return rest === '' || rest === 'ib' || rest === 'b' ? 1024 ** (p + 1) : undefined;
}

/** A non-negative decimal integer no larger than `max` (default 2^53 - 1). */
export function parseCount(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new ArgumentError(`${what} '${text}' is not a whole number`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n > max) throw new ArgumentError(`${what} ${t} is too large: at most ${max}`);
  return n;
}

/** A u64 value in full (transaction ids): 0..18446744073709551615. */
export function parseU64(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new ArgumentError(`${what} '${text}' is not a whole number`);
  const v = BigInt(t);
  if (v > U64_MAX) throw new ArgumentError(`${what} ${t} does not fit in 64 bits: at most 18446744073709551615`);
  return v;
}

export interface SizeOptions {
  /** Bytes per unit of a bare number (1: bytes, 512: sectors). */
  bareUnit?: number;
  /** The result must be a multiple of this many bytes. */
  multipleOf?: number;
  /** Refuse 0. */
  positive?: boolean;
}

/** A size in bytes from "64k", "10G", "1TiB", "128s", "4096". */
export function parseBytes(text: string, what: string, options: SizeOptions = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const hint = 'e.g. 4096, 128s, 64k, 10G, 1TiB';
  if (!m) throw new ArgumentError(`${what} '${text}' is not a size: ${hint}`);
  const per = m[2] === '' ? (options.bareUnit ?? 1) : unitBytes(m[2]);
  if (per === undefined) throw new ArgumentError(`${what} '${text}': unknown unit '${m[2]}' (units: b, s, k, m, g, t, p, e; KiB, MiB, ...)`);
  const bytes = Number(m[1]) * per;
  if (!Number.isSafeInteger(bytes)) {
    throw new ArgumentError(bytes > Number.MAX_SAFE_INTEGER ? `${what} '${text}' is too large` : `${what} '${text}' is not a whole number of bytes`);
  }
  if (options.positive && bytes === 0) throw new ArgumentError(`${what} must not be 0`);
  if (options.multipleOf && bytes % options.multipleOf !== 0) throw new ArgumentError(`${what} ${text} is not a multiple of ${options.multipleOf} bytes`);
  return bytes;
}

/** A size in whole 512-byte sectors; `bareUnit` says what a bare number means (bytes by default). */
export function parseSectors(text: string, what: string, bareUnit = 1): number {
  return parseBytes(text, what, { bareUnit, multipleOf: 512, positive: true }) / 512;
}

/**
 * The one human-readable size dmthin prints, thin_ls's (and close to
 * lvs's): powers of 1024 with an IEC suffix. As thin-provisioning-tools: divide by 1024 while above 1 MiB,
 * then once more (rounded) if above 8 KiB.
 */
export function humanSize(bytes: number): string {
  let n = bytes;
  let i = 0;
  while (n > 1024 * 1024) {
    n = Math.floor(n / 1024);
    i++;
  }
  if (n > 8 * 1024) {
    n = Math.round(n / 1024);
    i++;
  }
  return `${n}${['', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'][i]}`;
}
