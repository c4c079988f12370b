/**
 * `dmthin ls --deleted`: the deleted thin devices whose trees survive, with
 * a verdict count per device (src/thin/recover/scan-deleted.ts says what each
 * verdict rests on).
 */
import { BlockReader } from '../io/block-reader.js';
import { type DeletedDevice, type DeletedScan, UNKNOWN_WHY, Verdict, deletedCounts, scanDeleted } from '../thin/recover/scan-deleted.js';
import type { PoolSource } from '../thin/pool-source.js';
import { alignColumns } from './columns.js';
import { formatJson } from './json.js';
import { scanProgress } from './progress.js';

export function withDeletedScan<T>(source: PoolSource, quiet: boolean, use: (s: DeletedScan) => T): T {
  const reader = new BlockReader(source.metadata);
  try {
    return use(scanDeleted(reader, { onProgress: scanProgress(quiet) }));
  } finally {
    reader.close();
  }
}

function reasons(d: DeletedDevice): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < d.why.length; i++) {
    if (d.verdict[i] !== Verdict.Unknown) continue;
    const w = UNKNOWN_WHY[d.why[i]].replace(/ /g, '_');
    out[w] = (out[w] ?? 0) + 1;
  }
  return out;
}

/** The oldest and newest mapping time (a loop: a device of millions of mappings is too many arguments for Math.min). */
export function timeRange(d: DeletedDevice): [number, number] | null {
  if (d.time.length === 0) return null;
  let lo = d.time[0];
  let hi = lo;
  for (const t of d.time) {
    if (t < lo) lo = t;
    else if (t > hi) hi = t;
  }
  return [lo, hi];
}

export function deletedJson(s: DeletedScan, zeros?: Map<number, number>): string {
  return formatJson(
    {
      dataBlockSize: s.dataBlockSize,
      liveDevices: s.liveDevices,
      devices: s.devices.map((d) => ({
        ...deletedCounts(d),
        unknownReasons: reasons(d),
        ...(zeros ? { zeroBlocks: zeros.get(d.devId) ?? 0 } : {}),
        conflicts: d.conflicts,
        lostLeaves: d.lostNodes,
        timeRange: timeRange(d),
        roots: d.roots,
        topLevelCopies: d.topLevelCopies,
        details: d.details
          ? {
              mappedBlocks: d.details.mappedBlocks,
              transactionId: d.details.transactionId,
              creationTime: d.details.creationTime,
              snapshottedTime: d.details.snapshottedTime,
              copies: d.detailsCopies,
            }
          : null,
      })),
      unattributed: {
        leaves: s.unattributed.length,
        mappings: s.unattributed.reduce((n, l) => n + l.mappings, 0),
        leafRanges: s.unattributed.map((l) => ({ block: l.block, firstKey: l.lo, lastKey: l.hi, mappings: l.mappings })),
      },
    },
    2,
  );
}

export function deletedTable(s: DeletedScan, name: string, zeros?: Map<number, number>): string {
  const lines = [`${s.devices.length} deleted thin device(s) whose trees survive in ${name} (${s.liveDevices} live):`];
  if (s.devices.length) {
    const rows = [['DEV', 'MAPPED', 'INTACT', 'SHARED', 'REALLOCATED', 'UNKNOWN', 'TIMES', 'SEEN IN']];
    for (const d of s.devices) {
      const t = timeRange(d);
      rows.push([
        String(d.devId),
        String(d.counts.mapped),
        String(d.counts.intact),
        String(d.counts.shared),
        String(d.counts.reallocated),
        String(d.counts.unknown),
        t ? `${t[0]}..${t[1]}` : '-',
        `${d.topLevelCopies} top-level, ${d.detailsCopies} details cop${d.detailsCopies === 1 ? 'y' : 'ies'}`,
      ]);
    }
    lines.push(...alignColumns(rows, 6));
    for (const d of s.devices) {
      const why = Object.entries(reasons(d)).map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`);
      if (why.length) lines.push(`  device ${d.devId} unknown: ${why.join(', ')}`);
      const z = zeros?.get(d.devId);
      if (z)
        lines.push(
          `  device ${d.devId}: ${z} of its intact or shared blocks read as all zeros${z === d.counts.intact + d.counts.shared ? ' (all of them: its data was most likely discarded before the delete, as Docker does)' : ''}`,
        );
      if (d.lostNodes) lines.push(`  device ${d.devId}: ${d.lostNodes} node(s) of its trees could not be read (their mappings are not counted)`);
    }
  }
  const um = s.unattributed.reduce((n, l) => n + l.mappings, 0);
  lines.push(`unattributed: ${s.unattributed.length} mapping leaves (${um} mappings) that no live or deleted device's tree reaches`);
  return `${lines.join('\n')}\n`;
}
