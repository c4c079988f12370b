/**
 * Sizes as admins write them: 512, 64k, 10G, 1T (binary units; a trailing
 * "iB" or "B" is accepted: 64KiB, 10GB mean the same here). Bare numbers are
 * bytes.
 */
import { UsageError } from '../format/errors.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`'${text}' is not a size: use bytes or a binary unit, e.g. 512, 64k, 10G, 1T`);
  const bytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`size '${text}' is not a whole number of bytes`);
  return bytes;
}

/** A size that must be a whole number of 512-byte sectors. */
export function parseSectors(text: string, what: string): number {
  const bytes = parseSize(text);
  if (bytes % 512 !== 0 || bytes === 0) throw new UsageError(`${what} ${text} is not a positive multiple of 512 bytes`);
  return bytes / 512;
}

export function formatSize(bytes: number): string {
  for (const [u, f] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['k', 2 ** 10]] as const) {
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${u}`;
  }
  for (const [u, f] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['k', 2 ** 10]] as const) {
    if (bytes >= f) return `${(bytes / f).toFixed(1)}${u}`;
  }
  return `${bytes}`;
}
