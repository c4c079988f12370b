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
  transaction: bigint;
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
  overrides?: HeaderOverrides;
}

/** thin_dump and thin_repair 1.x's overrides of superblock fields. */
export interface HeaderOverrides {
  transactionId?: bigint;
  dataBlockSize?: number;
  nrDataBlocks?: number;
}

/** Applies overrides as thin-provisioning-tools 1.x does: the transaction id and nr_data_blocks only grow; the block size replaces. */
export function applyOverrides(h: DumpHeader, o: HeaderOverrides = {}): DumpHeader {
  if (o.transactionId !== undefined && o.transactionId > h.transaction) h.transaction = o.transactionId;
  if (o.nrDataBlocks !== undefined) h.nrDataBlocks = Math.max(h.nrDataBlocks, o.nrDataBlocks);
  if (o.dataBlockSize !== undefined) h.dataBlockSize = o.dataBlockSize;
  return h;
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
  const h = dumpHeader(md);
  applyOverrides(h, options.overrides);
  sink.begin(h);
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

/**
 * Joins single mappings, given in key order, into runs as thin_dump prints
 * them: consecutive virtual blocks on consecutive data blocks, one time.
 */
export class RunCoalescer {
  private origin = -2;
  private data = -2;
  private time = -1;
  private len = 0;

  constructor(private readonly sink: Pick<DumpSink, 'run'>) {}

  push(k: number, d: number, t: number): void {
    if (this.len > 0 && k === this.origin + this.len && d === this.data + this.len && t === this.time) {
      this.len++;
      return;
    }
    if (this.len > 0) this.sink.run(this.origin, this.data, this.len, this.time);
    this.origin = k;
    this.data = d;
    this.time = t;
    this.len = 1;
  }

  /** Pushes every mapping of a leaf (`b` with `n` entries, `max` slots). */
  pushLeaf(b: Uint8Array, n: number, max: number): void {
    const vbase = NODE_HEADER_SIZE + 8 * max;
    for (let i = 0; i < n; i++) {
      const ko = NODE_HEADER_SIZE + 8 * i;
      const key = (b[ko]! | (b[ko + 1]! << 8) | (b[ko + 2]! << 16) | (b[ko + 3]! << 24)) >>> 0;
      const keyHi = (b[ko + 4]! | (b[ko + 5]! << 8) | (b[ko + 6]! << 16) | (b[ko + 7]! << 24)) >>> 0;
      const vo = vbase + 8 * i;
      const lo = (b[vo]! | (b[vo + 1]! << 8) | (b[vo + 2]! << 16) | (b[vo + 3]! << 24)) >>> 0;
      const hi = (b[vo + 4]! | (b[vo + 5]! << 8) | (b[vo + 6]! << 16) | (b[vo + 7]! << 24)) >>> 0;
      this.push(keyHi === 0 ? key : keyHi * 0x1_0000_0000 + key, hi * 256 + (lo >>> 24), lo & TIME_MASK);
    }
  }

  flush(): void {
    if (this.len > 0) this.sink.run(this.origin, this.data, this.len, this.time);
    this.len = 0;
  }
}

function emitRuns(md: Metadata, root: number, sink: DumpSink): void {
  const runs = new RunCoalescer(sink);
  forEachLeaf(md.reader, root, 8, (b, _loc, n, max) => runs.pushLeaf(b, n, max));
  runs.flush();
}
