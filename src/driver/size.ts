/** Sizes for the live driver, where a bare number is bytes (see format/units.ts). */
import { parseBytes, parseSectors as parseSectorsArg } from '../format/units.js';

/** Bytes from "64k", "10G", "1TiB"; a bare number is bytes. */
export function parseSize(text: string, what = 'size'): number {
  return parseBytes(text, what);
}

/** A size that must be a whole, positive number of 512-byte sectors. */
export function parseSectors(text: string, what: string): number {
  return parseSectorsArg(text, what);
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
