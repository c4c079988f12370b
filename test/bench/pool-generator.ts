/**
 * Deterministic thin-pool generator: writes thin_dump-style XML for a pool
 * of an origin-and-snapshots shape, for tests and the benchmark.
 *
 * Each "family" is an origin written in runs (sequential stretches with
 * fragmented gaps) and snapshots of it, each of which rewrites a share of
 * the origin's blocks to fresh data blocks at a later time: data blocks are
 * shared by several devices, so reference counts of 3 and more (the
 * ref-count tree) occur. The XML is written by plain string building, not
 * by dmthin's own writer, so a test that compares against it is not
 * comparing dmthin with itself.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface PoolSpec {
  seed: number;
  /** Origins; each gets `snapshotsPerOrigin` snapshots. */
  origins: number;
  snapshotsPerOrigin: number;
  /** Mappings per origin. */
  mappingsPerOrigin: number;
  /** Share of an origin's mappings a snapshot rewrites (0..1). */
  rewriteShare: number;
  /** Average run length of sequential writes. */
  runLength: number;
  dataBlockSize?: number;
  /** Extra free data blocks beyond what is mapped. */
  spareDataBlocks?: number;
}

/** A small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface DeviceMappings {
  devId: number;
  creationTime: number;
  snapTime: number;
  vblock: Float64Array;
  data: Float64Array;
  time: Uint32Array;
}

/** Writes the XML to `path`; returns the number of mappings and devices. */
export function writePoolXml(path: string, spec: PoolSpec): { mappings: number; devices: number; nrDataBlocks: number } {
  const rnd = prng(spec.seed);
  let nextData = 0;
  let time = 0;
  const devices: DeviceMappings[] = [];
  let devId = 0;
  for (let o = 0; o < spec.origins; o++) {
    const n = spec.mappingsPerOrigin;
    const vblock = new Float64Array(n);
    const data = new Float64Array(n);
    const t = new Uint32Array(n);
    let v = Math.floor(rnd() * 16);
    for (let i = 0; i < n; ) {
      const run = Math.max(1, Math.floor(rnd() * spec.runLength * 2));
      // Data allocation interleaves between origins and snapshots: fragment it.
      if (rnd() < 0.3) nextData += Math.floor(rnd() * 4);
      for (let j = 0; j < run && i < n; j++, i++) {
        vblock[i] = v++;
        data[i] = nextData++;
        t[i] = time;
      }
      v += rnd() < 0.5 ? 0 : Math.floor(rnd() * 64);
    }
    const origin: DeviceMappings = { devId: devId++, creationTime: time, snapTime: time, vblock, data, time: t };
    devices.push(origin);
    let current = origin;
    for (let s = 0; s < spec.snapshotsPerOrigin; s++) {
      time++;
      current.snapTime = time;
      const snap: DeviceMappings = {
        devId: devId++,
        creationTime: time,
        snapTime: time,
        vblock: current.vblock,
        data: current.data.slice(),
        time: current.time.slice(),
      };
      // The snapshot's writes break sharing for a share of blocks, in short bursts.
      let i = Math.floor(rnd() * 64);
      while (i < n) {
        if (rnd() < spec.rewriteShare) {
          const burst = 1 + Math.floor(rnd() * 8);
          for (let j = 0; j < burst && i < n; j++, i++) {
            snap.data[i] = nextData++;
            snap.time[i] = time;
          }
        } else {
          i += 1 + Math.floor(rnd() * 8);
        }
      }
      devices.push(snap);
      current = snap;
    }
    time++;
  }
  const nrDataBlocks = nextData + (spec.spareDataBlocks ?? 1000);
  const fd = openSync(path, 'w');
  let buf = '';
  const put = (s: string): void => {
    buf += s;
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  };
  let total = 0;
  put(
    `<superblock uuid="" time="${time}" transaction="${spec.seed % 100}" flags="0" version="2" data_block_size="${spec.dataBlockSize ?? 128}" nr_data_blocks="${nrDataBlocks}">\n`,
  );
  for (const d of devices) {
    const n = d.vblock.length;
    total += n;
    put(`  <device dev_id="${d.devId}" mapped_blocks="${n}" transaction="${d.devId}" creation_time="${d.creationTime}" snap_time="${d.snapTime}">\n`);
    let i = 0;
    while (i < n) {
      let len = 1;
      while (i + len < n && d.vblock[i + len] === d.vblock[i] + len && d.data[i + len] === d.data[i] + len && d.time[i + len] === d.time[i]) len++;
      if (len === 1) put(`    <single_mapping origin_block="${d.vblock[i]}" data_block="${d.data[i]}" time="${d.time[i]}"/>\n`);
      else put(`    <range_mapping origin_begin="${d.vblock[i]}" data_begin="${d.data[i]}" length="${len}" time="${d.time[i]}"/>\n`);
      i += len;
    }
    put('  </device>\n');
  }
  put('</superblock>\n');
  writeSync(fd, buf);
  closeSync(fd);
  return { mappings: total, devices: devices.length, nrDataBlocks };
}

/** Metadata file size (bytes) comfortably holding `mappings` mappings restored without sharing. */
export function metadataBytesFor(mappings: number): number {
  const blocks = Math.ceil(mappings / 160) + 256;
  return Math.max(4 << 20, blocks * 4096 * 2);
}
