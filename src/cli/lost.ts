/**
 * How an export that could not read every byte says so: the byte ranges
 * written as zeros, what was damaged, what those ranges held in the
 * device's filesystem, and the command that says more (issue 23: nothing
 * degrades silently; issue 24: lost ranges in files).
 */
import { type ByteRange, rangeBytes } from '../io/byte-range.js';
import { type LostHolds, lostHoldsSummary, lostPartText } from '../thin/lost-holds.js';

export interface DamageNote {
  summary: string;
  nodes: number;
}

/** At most this many ranges and parts are printed; --json has them all. */
const SHOWN = 8;

/** The --json fields: lost [{from, to}], lost_bytes, damage {summary, nodes, doctor}, lost_holds or lost_holds_unknown. */
export function lostFields(lost: readonly ByteRange[], damage: DamageNote, doctor: string, holds: LostHolds = {}): Record<string, unknown> {
  return { lost, lostBytes: rangeBytes(lost), damage: { ...damage, doctor }, ...holdsFields(holds) };
}

export function holdsFields(h: LostHolds): LostHolds {
  return { ...(h.lostHolds ? { lostHolds: h.lostHolds } : {}), ...(h.lostHoldsUnknown ? { lostHoldsUnknown: h.lostHoldsUnknown } : {}) };
}

/**
 * "LOST n bytes of WHAT in k ranges, written as zeros[ (why)]: bytes a..b, ..."
 * (ranges inclusive of their last byte, as the doctor prints them); `how`
 * says where the zeros are (an export writes them, a repaired pool reads them).
 */
export function lostLine(what: string, lost: readonly ByteRange[], why?: string, how = 'written as zeros'): string {
  const shown = lost.slice(0, SHOWN).map((l) => `${l.from}..${l.to - 1}`);
  const more = lost.length > shown.length ? `, and ${lost.length - shown.length} more (--json lists every one)` : '';
  return `LOST ${rangeBytes(lost)} bytes of ${what} in ${lost.length} range${lost.length === 1 ? '' : 's'}, ${how}${why ? ` (${why})` : ''}: bytes ${shown.join(', ')}${more}`;
}

/** What the lost ranges held, indented under the LOST line, or why that cannot be told. */
export function holdsText(h: LostHolds): string {
  if (h.lostHolds?.length) {
    const lines = h.lostHolds.slice(0, SHOWN).map((p) => `  ${lostPartText(p)}\n`);
    const more = h.lostHolds.length > SHOWN ? `  and ${h.lostHolds.length - SHOWN} more (--json lists them)\n` : '';
    return `they held (from the filesystem, as far as it survives): ${lostHoldsSummary(h.lostHolds)}\n${lines.join('')}${more}`;
  }
  return h.lostHoldsUnknown ? `what they held cannot be told: ${h.lostHoldsUnknown}\n` : '';
}

/** For a person, on stderr: how much was lost, where (the first ranges), why, what it held, and what to run. */
export function formatDamagedExport(what: string, lost: readonly ByteRange[], damage: DamageNote, doctor: string, holds: LostHolds = {}): string {
  return `${lostLine(what, lost)}; the pool's metadata is damaged (${damage.summary}); run ${doctor} to see what is lost and what to do next\n${holdsText(holds)}`;
}
