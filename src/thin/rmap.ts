/**
 * Reverse map: which (thin device, virtual block) uses each data block of
 * the given regions, as thin_rmap reports it. Runs of consecutive data
 * blocks on consecutive virtual blocks of one device are merged; the result
 * is ordered by data block, end, device and virtual block.
 */
import { UsageError } from '../format/errors.js';
import type { Metadata } from './metadata.js';
import { forEachMapping } from './mapping-scan.js';

export interface Region {
  begin: number;
  /** One past the end. */
  end: number;
}

export interface RmapRun {
  dataBegin: number;
  dataEnd: number;
  devId: number;
  thinBegin: number;
}

/** "B..E" (E one past the end), as thin_rmap takes it. */
export function parseRegion(text: string): Region {
  const m = /^(\d+)\.\.(\d+)$/.exec(text.trim());
  if (!m) throw new UsageError(`badly formed region '${text}': use BEGIN..END, END one past the last block`);
  const r = { begin: Number(m[1]), end: Number(m[2]) };
  if (r.end <= r.begin) throw new UsageError(`badly formed region '${text}': END must be greater than BEGIN`);
  return r;
}

export function rmap(md: Metadata, regions: readonly Region[]): RmapRun[] {
  const nrData = md.view.dataSpaceMapRoot.nrBlocks || md.superblock.dataSpaceMapRoot.nrBlocks;
  for (const r of regions) {
    if (r.begin >= nrData) throw new UsageError(`region ${r.begin}..${r.end} starts past the end of the data device (${nrData} blocks)`);
  }
  const sorted = [...regions].sort((a, b) => a.begin - b.begin);
  const inRegions = (b: number): boolean => {
    for (const r of sorted) if (b >= r.begin && b < r.end) return true;
    return false;
  };
  const out: RmapRun[] = [];
  let cur: RmapRun | undefined;
  for (const d of md.devices()) {
    if (d.mappingRoot === undefined) continue;
    forEachMapping(md.reader, d.mappingRoot, (v, data) => {
      if (!inRegions(data)) return;
      if (cur && cur.devId === d.devId && data === cur.dataEnd && v === cur.thinBegin + (cur.dataEnd - cur.dataBegin)) {
        cur.dataEnd++;
        return;
      }
      if (cur) out.push(cur);
      cur = { dataBegin: data, dataEnd: data + 1, devId: d.devId, thinBegin: v };
    });
  }
  if (cur) out.push(cur);
  // thin_rmap 0.9 sorts by data block alone with an unstable sort, so the
  // order of ties is an accident of its implementation; 1.x sorts by every
  // field, which is deterministic: do that.
  return out.sort((a, b) => a.dataBegin - b.dataBegin || a.dataEnd - b.dataEnd || a.devId - b.devId || a.thinBegin - b.thinBegin);
}

export function formatRmap(runs: readonly RmapRun[]): string {
  return runs.map((r) => `data ${r.dataBegin}..${r.dataEnd} -> thin(${r.devId}) ${r.thinBegin}..${r.thinBegin + (r.dataEnd - r.dataBegin)}\n`).join('');
}
