/**
 * How an export that worked around damaged metadata says so: the byte
 * ranges written as zeros because no readable mapping gives them, what
 * was damaged, and the command that says more (issue 23: nothing degrades
 * silently).
 */
import { type ByteRange, rangeBytes } from '../io/byte-range.js';

export interface DamageNote {
  summary: string;
  nodes: number;
}

/** The --json fields: lost [{from, to}], lost_bytes, damage {summary, nodes, doctor}. */
export function lostFields(lost: readonly ByteRange[], damage: DamageNote, doctor: string): Record<string, unknown> {
  return { lost, lostBytes: rangeBytes(lost), damage: { ...damage, doctor } };
}

/** For a person, on stderr: how much was lost, where (the first ranges), why, and what to run. */
export function formatDamagedExport(what: string, lost: readonly ByteRange[], damage: DamageNote, doctor: string): string {
  const bytes = rangeBytes(lost);
  const shown = lost.slice(0, 8).map((l) => `${l.from}..${l.to}`);
  const more = lost.length > shown.length ? `, and ${lost.length - shown.length} more (--json lists every one)` : '';
  return (
    `LOST ${bytes} bytes of ${what} in ${lost.length} range${lost.length === 1 ? '' : 's'}, written as zeros: bytes ${shown.join(', ')}${more}; ` +
    `the pool's metadata is damaged (${damage.summary}); run ${doctor} to see what is lost and what to do next\n`
  );
}
