/**
 * Rebuilds a thin device's bytes from the metadata and the data device
 * alone: no kernel, no root, no loop device. Every mapped block is copied
 * from the data file; every unmapped block reads as zeros, as the kernel
 * returns it. To a file the result is sparse (unmapped and all-zero blocks
 * stay holes); to a stream, zeros are written.
 */
import { fstatSync, ftruncateSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { MetadataError } from '../format/errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { isZero, writeFull } from '../io/full-io.js';
import { type ByteRange, addRange } from '../io/byte-range.js';
import { type Metadata, noSuchDevice } from './metadata.js';
import { forEachMapping } from './mapping-scan.js';
import { openPoolData } from './pool-data.js';
import { BTreeTraversal, highestKey } from '../pdata/btree/traversal.js';
import type { KeyRange, TreeProblem } from '../pdata/btree/problem.js';
import { type DamageScan, damageSummary, treeDamage } from './damage.js';
import { ThinDeviceSource } from './device-source.js';
import { type LostPart, filesystemBytes, lostHolds } from './lost-holds.js';

export interface ExportOptions {
  /** Device size in bytes; default: its filesystem's (or partition table's) size, or up to the highest mapped block when that is larger or none is found. */
  size?: number;
  /** Called now and then with bytes of the device done so far. */
  onProgress?: (done: number, total: number) => void;
  /**
   * The ranges of data bytes [at, at + n) the data source could not give
   * (they read as zeros): a data LV with a PV gone. Each becomes a lost
   * range of the device in the result.
   */
  lostIn?: (at: number, n: number) => ByteRange[];
}

export interface ExportResult {
  size: number;
  mappedBytes: number;
  /** Mapped bytes that were all zeros and left as holes (files only). */
  zeroBytes: number;
  runs: number;
  /**
   * The device's byte ranges written as zeros because they could not be
   * read, in order: data the source lacked (options.lostIn), or virtual
   * blocks under a damaged node of the mapping tree. Present with lostIn
   * or when the tree is damaged.
   */
  lost?: ByteRange[];
  /** Mapped bytes the data source lacked (options.lostIn): written as zeros, in `lost`; bytes under damaged nodes are not mapped, so not here. */
  unreadBytes?: number;
  /** When the mapping tree is damaged: what could not be read (one line) and the count of damaged nodes. */
  damage?: { summary: string; nodes: number; doctor?: string };
  /** With `lost`: what those ranges held in the device's filesystem, as far as it survives, or why that cannot be told. */
  lostHolds?: LostPart[];
  lostHoldsUnknown?: string;
}

const CHUNK = 8 << 20;

export interface Run {
  v: number;
  d: number;
  n: number;
}

/** Runs of consecutive virtual blocks on consecutive data blocks, in order, without holding them all. */
export function forEachRun(md: Metadata, root: number, devId: number, fn: (r: Run) => void): void {
  let cur: Run | undefined;
  forEachMapping(md.reader, root, devId, (v, d) => {
    if (cur && v === cur.v + cur.n && d === cur.d + cur.n) {
      cur.n++;
      return;
    }
    if (cur) fn(cur);
    cur = { v, d, n: 1 };
  });
  if (cur) fn(cur);
}

/**
 * As forEachRun, but a damaged node does not end the walk: the virtual
 * blocks it costs go to `hole` (in order with the runs), its damage to
 * `damaged`.
 */
export function forEachRunTolerant(
  md: Metadata,
  root: number,
  devId: number,
  fn: (r: Run) => void,
  hole: (range: KeyRange) => void,
  damaged: (p: TreeProblem) => void,
): void {
  let cur: Run | undefined;
  new BTreeTraversal(md.reader).walk(root, {
    valueSize: 8,
    tree: { kind: 'mappings', devId, snapshot: md.viewLocation !== 0 },
    onLeaf: (node) => {
      for (let i = 0; i < node.nrEntries; i++) {
        const v = node.key(i);
        const d = node.dataBlock(i);
        if (cur && v === cur.v + cur.n && d === cur.d + cur.n) {
          cur.n++;
          continue;
        }
        if (cur) fn(cur);
        cur = { v, d, n: 1 };
      }
    },
    onProblem: (p) => {
      // The run before the hole first: ranges are reported in order.
      if (cur) fn(cur);
      cur = undefined;
      hole(p.range);
      damaged(p);
    },
  });
  if (cur) fn(cur);
}

/**
 * Writes device `devId` to `outFd` (a regular file: sparse, positioned
 * writes; anything else: a sequential stream), reading the pool's data from
 * a file or device path, or any ByteSource (a data LV inside disk images).
 */
export function exportDevice(md: Metadata, dataInput: string | ByteSource, devId: number, outFd: number, options: ExportOptions = {}): ExportResult {
  const devices = md.devices();
  const dev = devices.find((d) => d.devId === devId);
  if (!dev || dev.mappingRoot === undefined) throw noSuchDevice(devId, devices);
  const root = dev.mappingRoot;
  const damage: DamageScan = { damage: [], total: 0 };
  // A damaged leaf does not stop the export: its virtual blocks are written as zeros and listed as lost.
  const runs = (fn: (r: Run) => void, hole?: (range: KeyRange) => void): void =>
    forEachRunTolerant(md, root, devId, fn, hole ?? (() => {}), (p) => {
      damage.total++;
      if (damage.damage.length < 1) damage.damage.push(treeDamage(p));
    });
  // A raw pool does not record a device's size: its filesystem's own (or its partition table's) when larger than what is mapped.
  const fs = options.size === undefined ? fsSize(md, dataInput, devId, root) : undefined;
  const highest = highestOr(md, root, devId, options.size ?? fs);
  const size = options.size ?? (fs === undefined ? undefined : Math.max(fs, (highest + 1) * md.dataBlockBytes()));
  const r = exportRuns(md, dataInput, `thin device ${devId}`, runs, highest, outFd, { ...options, size });
  if (damage.total) r.damage = { summary: damageSummary(damage), nodes: damage.total };
  if (r.lost?.length) Object.assign(r, whatLostHeld(md, dataInput, devId, root, r.size, r.lost));
  return r;
}

/** The size the device's filesystem or partition table gives it, read through what survives; undefined when none is found. */
function fsSize(md: Metadata, dataInput: string | ByteSource, devId: number, root: number): number | undefined {
  const bs = md.dataBlockBytes();
  const data = openPoolData(dataInput, md.superblock.dataSpaceMapRoot.nrBlocks, bs);
  try {
    return filesystemBytes((size) => new ThinDeviceSource(`thin device ${devId}`, md.reader, root, data, bs, size, () => undefined));
  } finally {
    if (data !== dataInput) data.close();
  }
}

/** What the lost ranges held, read through what survives of the device (under a damaged node: zeros, as written). */
function whatLostHeld(md: Metadata, dataInput: string | ByteSource, devId: number, root: number, size: number, lost: readonly ByteRange[]) {
  const bs = md.dataBlockBytes();
  const data = openPoolData(dataInput, md.superblock.dataSpaceMapRoot.nrBlocks, bs);
  try {
    const dev = new ThinDeviceSource(`thin device ${devId}`, md.reader, root, data, bs, size, () => undefined);
    return lostHolds(
      () => dev,
      lost.map((l) => ({ offset: l.from, length: l.to - l.from })),
      size,
    );
  } finally {
    if (data !== dataInput) data.close();
  }
}

/**
 * The device's highest mapped block, read down the rightmost path. With a
 * size asked for (an LV's, Docker's), a damaged node on that path costs
 * only its own blocks (-1: the runs are checked against the size instead);
 * without one, the device's end is unknown and the damage stops the export.
 */
function highestOr(md: Metadata, root: number, devId: number, size: number | undefined): number {
  try {
    return highestKey(md.reader, root, 8, { kind: 'mappings', devId, snapshot: md.viewLocation !== 0 });
  } catch (e) {
    if (!(e instanceof MetadataError)) throw e;
    // The way on, in the one line the damage advice carries: the size makes the damage cost only its own blocks.
    if (size === undefined)
      throw new MetadataError(
        e.block,
        `${e.detail}; the device's end cannot be read, so its size is needed: --size SIZE (LVM's or Docker's size; their export forms know it) writes what survives and lists what is lost`,
      );
    return -1;
  }
}

/**
 * Writes the runs `forEach` gives (in virtual block order; `highest` is the
 * last virtual block mapped, -1 for none) as a device's bytes: what
 * exportDevice does for a live device, and recovery for a deleted one.
 */
export function exportRuns(
  md: Metadata,
  dataInput: string | ByteSource,
  what: string,
  forEach: (fn: (r: Run) => void, hole?: (range: KeyRange) => void) => void,
  highest: number,
  outFd: number,
  options: ExportOptions = {},
): ExportResult {
  const bs = md.dataBlockBytes();
  const needed = (highest + 1) * bs;
  const size = options.size ?? needed;
  if (size < needed) throw new UsageError(`${what} maps data up to byte ${needed}, past the size asked for (${size})`);
  const nrData = md.superblock.dataSpaceMapRoot.nrBlocks;
  const data = openPoolData(dataInput, nrData, bs);
  const st = fstatSync(outFd);
  const seekable = st.isFile();
  if (seekable) ftruncateSync(outFd, size);
  const buf = new Uint8Array(CHUNK);
  const zeros = new Uint8Array(CHUNK);
  let pos = 0; // stream position (sequential output)
  const lostIn = options.lostIn;
  const lost: ByteRange[] = [];
  const result: ExportResult = { size, mappedBytes: 0, zeroBytes: 0, runs: 0, ...(lostIn ? { lost } : {}) };
  const nrVirtual = Math.ceil(size / bs);
  // Virtual blocks under a damaged node: nothing is written there (zeros), and they are lost.
  const hole = (range: KeyRange): void => {
    const to = Math.min(range.hi, nrVirtual);
    if (range.lo >= to) return;
    addRange(lost, range.lo * bs, Math.min(to * bs, size));
    result.lost = lost;
  };
  let lastReport = 0;
  const padTo = (target: number): void => {
    while (pos < target) {
      const n = Math.min(CHUNK, target - pos);
      writeFull(outFd, zeros, n, null);
      pos += n;
    }
  };
  try {
    forEach((r) => {
      if (r.d + r.n > nrData) throw new UsageError(`${what} maps data block ${r.d + r.n - 1}, past the data device's ${nrData} blocks`);
      if ((r.v + r.n) * bs > size) throw new UsageError(`${what} maps data up to byte ${(r.v + r.n) * bs}, past the size asked for (${size})`);
      result.runs++;
      let off = 0;
      const total = r.n * bs;
      while (off < total) {
        const n = Math.min(CHUNK, total - off);
        const at0 = r.d * bs + off;
        if (at0 + n > data.size) {
          throw new UsageError(`${data.name} ends before the mapped data at ${at0}..${at0 + n}: wrong data file, or truncated?`);
        }
        data.readAt(buf.subarray(0, n), at0);
        const at = r.v * bs + off;
        if (lostIn)
          for (const l of lostIn(at0, n)) {
            addRange(lost, at + l.from - at0, at + l.to - at0);
            result.unreadBytes = (result.unreadBytes ?? 0) + l.to - l.from;
          }
        if (seekable) {
          if (isZero(buf, n)) result.zeroBytes += n;
          else writeFull(outFd, buf, n, at);
        } else {
          padTo(at);
          writeFull(outFd, buf, n, null);
          pos += n;
        }
        off += n;
        result.mappedBytes += n;
      }
      if (options.onProgress && result.mappedBytes - lastReport > 64 << 20) {
        lastReport = result.mappedBytes;
        options.onProgress(r.v * bs, size);
      }
    }, hole);
    if (!seekable) padTo(size);
  } finally {
    data.close();
  }
  return result;
}
