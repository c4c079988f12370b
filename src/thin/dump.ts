/**
 * Streams a pool's devices and mappings, coalesced into runs, to a sink
 * (XML, human-readable or JSON writer). A run is consecutive virtual blocks
 * mapped to consecutive data blocks with one time, as thin_dump prints
 * them; runs continue across leaf boundaries.
 */
import { NODE_HEADER_SIZE } from '../format/btree-node.js';
import { TIME_MASK } from '../format/block-time.js';
import { UsageError } from '../format/errors.js';
import { forEachLeaf } from '../pdata/btree-leaves.js';
import type { Metadata, ThinDevice } from './metadata.js';

export interface DumpHeader {
  uuid: string;
  time: number;
  transaction: number;
  flags: number;
  version: number;
  dataBlockSize: number;
  nrDataBlocks: number;
  /** Block of the held metadata snapshot, when there is one. */
  metadataSnap?: number;
}

export interface DumpSink {
  begin(h: DumpHeader): void;
  beginDevice(d: ThinDevice): void;
  /** `length` consecutive mappings origin+i -> data+i, all with `time`. */
  run(origin: number, data: number, length: number, time: number): void;
  endDevice(): void;
  end(): void;
}

export interface DumpOptions {
  /** Only these thin ids (all when absent). */
  devIds?: readonly number[];
  skipMappings?: boolean;
}

export function uuidText(uuid: Uint8Array): string {
  let end = uuid.indexOf(0);
  if (end < 0) end = uuid.length;
  return Buffer.from(uuid.subarray(0, end)).toString('latin1');
}

export function dumpHeader(md: Metadata): DumpHeader {
  const v = md.view;
  return {
    uuid: uuidText(v.uuid),
    time: v.time,
    transaction: v.transactionId,
    flags: v.flags,
    version: v.version,
    dataBlockSize: v.dataBlockSize,
    nrDataBlocks: v.dataSpaceMapRoot.nrBlocks,
    metadataSnap: md.superblock.heldRoot || undefined,
  };
}

export function dump(md: Metadata, sink: DumpSink, options: DumpOptions = {}): void {
  let devices = md.devices();
  if (options.devIds) {
    const known = new Set(devices.map((d) => d.devId));
    for (const id of options.devIds) {
      if (!known.has(id)) throw new UsageError(`no thin device ${id} in the metadata`);
    }
    const wanted = new Set(options.devIds);
    devices = devices.filter((d) => wanted.has(d.devId));
  }
  sink.begin(dumpHeader(md));
  for (const d of devices) {
    sink.beginDevice(d);
    if (!options.skipMappings) {
      if (d.mappingRoot === undefined) {
        throw new UsageError(`thin device ${d.devId} has details but no mapping tree`);
      }
      emitRuns(md, d.mappingRoot, sink);
    }
    sink.endDevice();
  }
  sink.end();
}

function emitRuns(md: Metadata, root: number, sink: DumpSink): void {
  let origin = -2;
  let data = -2;
  let time = -1;
  let len = 0;
  forEachLeaf(md.reader, root, 8, (b, _loc, n, max) => {
    const vbase = NODE_HEADER_SIZE + 8 * max;
    for (let i = 0; i < n; i++) {
      const ko = NODE_HEADER_SIZE + 8 * i;
      const key = (b[ko]! | (b[ko + 1]! << 8) | (b[ko + 2]! << 16) | (b[ko + 3]! << 24)) >>> 0;
      const keyHi = (b[ko + 4]! | (b[ko + 5]! << 8) | (b[ko + 6]! << 16) | (b[ko + 7]! << 24)) >>> 0;
      const vo = vbase + 8 * i;
      const lo = (b[vo]! | (b[vo + 1]! << 8) | (b[vo + 2]! << 16) | (b[vo + 3]! << 24)) >>> 0;
      const hi = (b[vo + 4]! | (b[vo + 5]! << 8) | (b[vo + 6]! << 16) | (b[vo + 7]! << 24)) >>> 0;
      const k = keyHi === 0 ? key : keyHi * 0x1_0000_0000 + key;
      const d = hi * 256 + (lo >>> 24);
      const t = lo & TIME_MASK;
      if (len > 0 && k === origin + len && d === data + len && t === time) {
        len++;
      } else {
        if (len > 0) sink.run(origin, data, len, time);
        origin = k;
        data = d;
        time = t;
        len = 1;
      }
    }
  });
  if (len > 0) sink.run(origin, data, len, time);
}
