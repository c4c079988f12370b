/**
 * A deleted thin device's image: its intact and shared blocks with their
 * bytes from the data device, every block the evidence does not vouch for
 * left as zeros (a hole), and a report of what went where. Unknown blocks
 * are written only when asked (includeUnknown), and then counted apart.
 */
import type { ByteSource } from '../../io/byte-source.js';
import { UsageError } from '../../errors.js';
import { type ExportOptions, type ExportResult, type Run, exportRuns } from '../export.js';
import type { Metadata } from '../metadata.js';
import { type DeletedCounts, type DeletedScan, Verdict, deletedCounts, vouchedFor } from './scan-deleted.js';

export interface DeletedExportOptions extends ExportOptions {
  /** Write unknown blocks too (marked in the report). */
  includeUnknown?: boolean;
}

export interface DeletedExportReport extends ExportResult, DeletedCounts {
  /** Unknown blocks written (with includeUnknown). */
  unknownWritten: number;
  /** Nodes of its trees that could not be read (the issue's lost_leaves: an internal node counts as one). */
  lostLeaves: number;
  /** Virtual blocks written, and left as holes although the device mapped them. */
  writtenBlocks: number;
  withheldBlocks: number;
}

export function exportDeleted(
  md: Metadata,
  scan: DeletedScan,
  devId: number,
  dataInput: string | ByteSource,
  outFd: number,
  options: DeletedExportOptions = {},
): DeletedExportReport {
  const dev = scan.devices.find((d) => d.devId === devId);
  if (!dev) {
    const ids = scan.devices.map((d) => d.devId);
    throw new UsageError(
      `no deleted thin device ${devId} survives in the metadata${ids.length ? ` (deleted devices found: ${ids.join(', ')})` : ' (none found)'}`,
    );
  }
  const take = (i: number): boolean => vouchedFor(dev.verdict[i]) || (!!options.includeUnknown && dev.verdict[i] === Verdict.Unknown);
  let written = 0;
  let highest = -1;
  for (let i = 0; i < dev.vblock.length; i++) {
    if (!take(i)) continue;
    written++;
    highest = dev.vblock[i];
  }
  // A size covering every block the device mapped, written or not, unless one is given.
  const mappedTop = dev.vblock.length ? dev.vblock[dev.vblock.length - 1] : -1;
  const bs = md.dataBlockBytes();
  const size = options.size ?? (mappedTop + 1) * bs;
  const runs = (fn: (r: Run) => void): void => {
    let cur: Run | undefined;
    for (let i = 0; i < dev.vblock.length; i++) {
      if (!take(i)) continue;
      const v = dev.vblock[i];
      const d = dev.data[i];
      if (cur && v === cur.v + cur.n && d === cur.d + cur.n) cur.n++;
      else {
        if (cur) fn(cur);
        cur = { v, d, n: 1 };
      }
    }
    if (cur) fn(cur);
  };
  const r = exportRuns(md, dataInput, `deleted thin device ${devId}`, runs, highest, outFd, { ...options, size });
  return {
    ...r,
    ...deletedCounts(dev),
    unknownWritten: options.includeUnknown ? dev.counts.unknown : 0,
    lostLeaves: dev.lostNodes,
    writtenBlocks: written,
    withheldBlocks: dev.counts.mapped - written,
  };
}
