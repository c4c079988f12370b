/**
 * Rows of cells as aligned lines, two spaces between columns: the first
 * `rightAligned` columns padded on the left (numbers), the rest on the
 * right; no trailing blanks.
 */
export function alignColumns(rows: readonly string[][], rightAligned = 0): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i].length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => (i < rightAligned ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}
