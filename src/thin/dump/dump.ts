/**
 * Streams a pool's devices and mappings, coalesced into runs, to a sink
 * (XML, human-readable or JSON writer). A run is consecutive virtual blocks
 * mapped to consecutive data blocks with one time, as thin_dump prints
 * them; runs continue across leaf boundaries.
 */
import type { BTreeNode } from '../../format/btree-node.js';
import { UsageError } from '../../errors.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { type Metadata, type ThinDevice, noSuchDevice } from '../metadata.js';

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
  /**
   * The traversal that judged the trees already (validateTrees, before a
   * stream's first byte): its verdicts are kept, so the dump's own walk
   * computes no checksum twice.
   */
  traversal?: BTreeTraversal;
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
      if (!known.has(id)) throw noSuchDevice(id, devices);
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
      emitRuns(md, d.mappingRoot, d.devId, sink, options.traversal);
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

  /** Pushes every mapping of a mapping leaf. */
  pushLeaf(node: BTreeNode): void {
    for (let i = 0; i < node.nrEntries; i++) this.push(node.key(i), node.dataBlock(i), node.time(i));
  }

  flush(): void {
    if (this.len > 0) this.sink.run(this.origin, this.data, this.len, this.time);
    this.len = 0;
  }
}

function emitRuns(md: Metadata, root: number, devId: number, sink: DumpSink, traversal = new BTreeTraversal(md.reader)): void {
  const runs = new RunCoalescer(sink);
  traversal.walk(root, { valueSize: 8, tree: { kind: 'mappings', devId, snapshot: md.viewLocation !== 0 }, onLeaf: (node) => runs.pushLeaf(node) });
  runs.flush();
}
