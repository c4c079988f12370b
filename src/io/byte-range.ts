/**
 * Byte ranges [from, to): what a reader could not give, kept as a list in
 * order and merged as they come, so that a report of lost bytes is as long
 * as the number of gaps, not the number of reads.
 */

export interface ByteRange {
  from: number;
  to: number;
}

/** Appends [from, to) to `ranges` (given in order), merging it into the last range when they touch. */
export function addRange(ranges: ByteRange[], from: number, to: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last.to >= from) last.to = Math.max(last.to, to);
  else ranges.push({ from, to });
}

/** The bytes the ranges cover. */
export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((n, r) => n + (r.to - r.from), 0);
}
