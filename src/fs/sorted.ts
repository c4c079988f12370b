/** Searches in sorted arrays of block numbers (the owner searches of both filesystems). */

/** The first index of sorted `a` whose value is not below `v` (a.length when none). */
export function lowerBound(a: readonly number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
