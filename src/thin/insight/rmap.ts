/**
 * Reverse map: which (thin device, virtual block) uses each data block of
 * the given regions, as thin_rmap reports it. Runs of consecutive data
 * blocks on consecutive virtual blocks of one device are merged; the result
 * is ordered by data block, end, device and virtual block.
 */
import { ArgumentError, UsageError } from '../../errors.js';
import { parseCount } from '../../format/units.js';
import { type Output, ascii } from '../../io/output.js';
import type { Metadata } from '../metadata.js';
import { forEachMapping } from '../mapping-scan.js';
import { grow } from '../../pdata/grow.js';

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
  if (!m) throw new ArgumentError(`badly formed region '${text}': use BEGIN..END, END one past the last block`);
  const r = { begin: parseCount(m[1], 'region begin'), end: parseCount(m[2], 'region end') };
  if (r.end <= r.begin) throw new ArgumentError(`badly formed region '${text}': END must be greater than BEGIN`);
  return r;
}

/** Growable columns of runs: no object per run until the (sorted) result is read. */
class RunColumns {
  dataBegin = new Float64Array(1024);
  dataEnd = new Float64Array(1024);
  dev = new Uint32Array(1024);
  thinBegin = new Float64Array(1024);
  n = 0;
  push(db: number, de: number, dev: number, tb: number): void {
    if (this.n === this.dev.length) {
      this.dataBegin = grow(this.dataBegin);
      this.dataEnd = grow(this.dataEnd);
      this.dev = grow(this.dev);
      this.thinBegin = grow(this.thinBegin);
    }
    const i = this.n++;
    this.dataBegin[i] = db;
    this.dataEnd[i] = de;
    this.dev[i] = dev;
    this.thinBegin[i] = tb;
  }
}

/** The sorted runs, read by index: one object per run only when asked for. */
export interface RmapResult {
  length: number;
  at(i: number): RmapRun;
}

export function rmap(md: Metadata, regions: readonly Region[]): RmapResult {
  const nrData = md.view.dataSpaceMapRoot.nrBlocks || md.superblock.dataSpaceMapRoot.nrBlocks;
  for (const r of regions) {
    if (r.begin >= nrData) throw new UsageError(`region ${r.begin}..${r.end} starts past the end of the data device (${nrData} blocks)`);
  }
  const sorted = [...regions].sort((a, b) => a.begin - b.begin);
  const single = sorted.length === 1 ? sorted[0] : undefined;
  const inRegions = (b: number): boolean => {
    if (single) return b >= single.begin && b < single.end;
    for (const r of sorted) if (b >= r.begin && b < r.end) return true;
    return false;
  };
  const cols = new RunColumns();
  let open = false;
  let cb = 0;
  let ce = 0;
  let cdev = 0;
  let ct = 0;
  for (const d of md.devices()) {
    if (d.mappingRoot === undefined) continue;
    const dev = d.devId;
    forEachMapping(md.reader, d.mappingRoot, d.devId, (v, data) => {
      if (!inRegions(data)) return;
      if (open && cdev === dev && data === ce && v === ct + (ce - cb)) {
        ce++;
        return;
      }
      if (open) cols.push(cb, ce, cdev, ct);
      open = true;
      cb = data;
      ce = data + 1;
      cdev = dev;
      ct = v;
    });
  }
  if (open) cols.push(cb, ce, cdev, ct);
  // thin_rmap 0.9 sorts by data block alone with an unstable sort, so the
  // order of ties is an accident of its implementation; 1.x sorts by every
  // field, which is deterministic: do that.
  const order = new Uint32Array(cols.n).map((_v, i) => i);
  const { dataBegin: b, dataEnd: e, dev: dv, thinBegin: t } = cols;
  order.sort((x, y) => b[x] - b[y] || e[x] - e[y] || dv[x] - dv[y] || t[x] - t[y]);
  return {
    length: order.length,
    at: (k) => {
      const i = order[k];
      return { dataBegin: b[i], dataEnd: e[i], devId: dv[i], thinBegin: t[i] };
    },
  };
}

/** thin_rmap's lines. */
export function writeRmap(runs: RmapResult, out: Output): void {
  for (let k = 0; k < runs.length; k++) {
    const r = runs.at(k);
    out
      .raw(DATA)
      .num(r.dataBegin)
      .raw(DOTS)
      .num(r.dataEnd)
      .raw(THIN)
      .num(r.devId)
      .raw(CLOSE)
      .num(r.thinBegin)
      .raw(DOTS)
      .num(r.thinBegin + (r.dataEnd - r.dataBegin))
      .raw(NL);
  }
}

const DATA = ascii('data ');
const DOTS = ascii('..');
const THIN = ascii(' -> thin(');
const CLOSE = ascii(') ');
const NL = ascii('\n');
