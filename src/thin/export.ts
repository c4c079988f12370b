/**
 * Rebuilds a thin device's bytes from the metadata and the data device
 * alone: no kernel, no root, no loop device. Every mapped block is copied
 * from the data file; every unmapped block reads as zeros, as the kernel
 * returns it. To a file the result is sparse (unmapped and all-zero blocks
 * stay holes); to a stream, zeros are written.
 */
import { fstatSync, ftruncateSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { isZero, writeFull } from '../io/full-io.js';
import { type ByteRange, addRange } from '../io/byte-range.js';
import { type Metadata, noSuchDevice } from './metadata.js';
import { forEachMapping } from './mapping-scan.js';
import { openPoolData } from './pool-data.js';
import { highestKey } from '../pdata/btree/traversal.js';

export interface ExportOptions {
  /** Device size in bytes; default: up to the highest mapped block. */
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
  /** With options.lostIn: the device's byte ranges written as zeros because the data source lacked them, in order. */
  lost?: ByteRange[];
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
 * Writes device `devId` to `outFd` (a regular file: sparse, positioned
 * writes; anything else: a sequential stream), reading the pool's data from
 * a file or device path, or any ByteSource (a data LV inside disk images).
 */
export function exportDevice(md: Metadata, dataInput: string | ByteSource, devId: number, outFd: number, options: ExportOptions = {}): ExportResult {
  const devices = md.devices();
  const dev = devices.find((d) => d.devId === devId);
  if (!dev || dev.mappingRoot === undefined) throw noSuchDevice(devId, devices);
  const root = dev.mappingRoot;
  const runs = (fn: (r: Run) => void): void => forEachRun(md, root, devId, fn);
  const highest = highestKey(md.reader, root, 8, { kind: 'mappings', devId, snapshot: md.viewLocation !== 0 });
  return exportRuns(md, dataInput, `thin device ${devId}`, runs, highest, outFd, options);
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
  forEach: (fn: (r: Run) => void) => void,
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
  const lost: ByteRange[] | undefined = lostIn ? [] : undefined;
  const result: ExportResult = { size, mappedBytes: 0, zeroBytes: 0, runs: 0, ...(lost ? { lost } : {}) };
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
        if (lost && lostIn) for (const l of lostIn(at0, n)) addRange(lost, at + l.from - at0, at + l.to - at0);
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
    });
    if (!seekable) padTo(size);
  } finally {
    data.close();
  }
  return result;
}
