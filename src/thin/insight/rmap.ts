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

/**
 * A growable column of whole numbers: 4 bytes a value while every value
 * fits in 32 bits, 8 once one does not (a virtual block past 2^32). Grows by
 * half, not double: at ten million runs the slack is what costs.
 */
class Column {
  a: Uint32Array | Float64Array = new Uint32Array(1024);
  push(i: number, v: number): void {
    if (i === this.a.length) {
      const b = new (this.a.constructor as new (n: number) => Uint32Array | Float64Array)(Math.ceil(this.a.length * 1.5));
      b.set(this.a);
      this.a = b;
    }
    if (v > 0xffffffff && this.a instanceof Uint32Array) this.a = Float64Array.from(this.a);
    this.a[i] = v;
  }
}

/** Runs as columns: no object per run until the (sorted) result is read. */
class RunColumns {
  readonly dataBegin = new Column();
  readonly length = new Column();
  readonly dev = new Column();
  readonly thinBegin = new Column();
  n = 0;
  push(db: number, len: number, dev: number, tb: number): void {
    const i = this.n++;
    this.dataBegin.push(i, db);
    this.length.push(i, len);
    this.dev.push(i, dev);
    this.thinBegin.push(i, tb);
  }
}

/**
 * The order of runs by data block, then length, device and virtual block:
 * a stable radix sort on the data block, 16 bits a pass (linear, and no
 * comparator call per pair as Array.sort would make ten million times),
 * then the few runs that start on one shared data block sorted among
 * themselves.
 */
function sortRuns(c: RunColumns): Uint32Array {
  const n = c.n;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const key = c.dataBegin.a;
  let max = 0;
  for (let i = 0; i < n; i++) if (key[i] > max) max = key[i];
  let tmp = new Uint32Array(n);
  const count = new Uint32Array(65537);
  for (let shift = 0, div = 1; max / div >= 1; shift += 16, div *= 65536) {
    const digit = key instanceof Uint32Array && shift < 32 ? (i: number) => (key[i] >>> shift) & 0xffff : (i: number) => Math.floor(key[i] / div) % 65536;
    count.fill(0);
    for (let k = 0; k < n; k++) count[digit(order[k]) + 1]++;
    for (let d = 1; d <= 65536; d++) count[d] += count[d - 1];
    for (let k = 0; k < n; k++) {
      const i = order[k];
      tmp[count[digit(i)]++] = i;
    }
    [order, tmp] = [tmp, order];
  }
  const len = c.length.a;
  const dev = c.dev.a;
  const thin = c.thinBegin.a;
  for (let k = 0; k < n; ) {
    let j = k + 1;
    while (j < n && key[order[j]] === key[order[k]]) j++;
    if (j - k > 1) order.subarray(k, j).sort((x, y) => len[x] - len[y] || dev[x] - dev[y] || thin[x] - thin[y]);
    k = j;
  }
  return order;
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
      if (open) cols.push(cb, ce - cb, cdev, ct);
      open = true;
      cb = data;
      ce = data + 1;
      cdev = dev;
      ct = v;
    });
  }
  if (open) cols.push(cb, ce - cb, cdev, ct);
  // thin_rmap 0.9 sorts by data block alone with an unstable sort, so the
  // order of ties is an accident of its implementation; 1.x sorts by every
  // field, which is deterministic: do that.
  const order = sortRuns(cols);
  const { dataBegin: b, length: l, dev: dv, thinBegin: t } = cols;
  return {
    length: order.length,
    at: (k) => {
      const i = order[k];
      return { dataBegin: b.a[i], dataEnd: b.a[i] + l.a[i], devId: dv.a[i], thinBegin: t.a[i] };
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
