/**
 * Deleted thin devices: what survives of them in the metadata, and, block
 * by block, what the evidence says about their data.
 *
 * The kernel's delete (dm-thin-metadata.c __delete_device) removes the
 * device's key from the details tree and from the top-level mapping tree
 * in one transaction; dropping the top-level value decrements every node
 * and data block of the device's subtree. Nothing is zeroed: the nodes and
 * data keep their bytes until the allocators reuse them. Shadowing leaves
 * older copies of the top-level leaf behind, and those still map the
 * device's id to its root at that generation (older details leaves give
 * its mapped_blocks and times).
 *
 * So: every block is classified once (NodeScan); older top-level leaves
 * (not reachable from the superblock or the held metadata snapshot) name
 * device ids the live trees lack; their roots are walked tolerantly; the
 * generations' mappings are merged, one per virtual block (the newest by
 * time; two different blocks at the same time are a conflict, unknown).
 * Each mapping then gets a verdict from what the live pool says about its
 * data block:
 *
 * - shared: a live device maps the same virtual block to the same data
 *   block with the same time: one allocation, shared by a snapshot
 *   relative since before the delete, so the same bytes;
 * - reallocated: a live device maps the block otherwise: it was allocated
 *   again after the delete and written;
 * - intact: the data space map counts it 0, no surviving leaf anywhere maps
 *   it otherwise, and none of this device's blocks has been reallocated or
 *   is mapped otherwise by another surviving leaf (the allocator has not
 *   come round to them: once it has, a free block may have been used and
 *   freed again, and that is unknown);
 * - unknown: anything else (a count the space map cannot give or that some
 *   unseen owner holds, a conflict between generations, another claimant).
 *
 * Nothing is guessed: what the evidence does not decide is unknown.
 */
import { must } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { BTreeNode } from '../../format/btree-node.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../../format/device-details.js';
import { type Superblock, validateSuperblock } from '../../format/superblock.js';
import type { BlockReader } from '../../io/block-reader.js';
import { NodeKind, NodeScan } from '../../pdata/btree/node-scan.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { SpaceMapLookup } from '../../pdata/space-map/lookup.js';
import { MappingList } from '../mapping-list.js';

/**
 * A mapping's verdict, as kept per block in `DeletedDevice.verdict` (a
 * Uint8Array: a device may have millions of mappings). The names are the
 * only way to write one; `VERDICT_NAMES[v]` is its word in reports.
 */
export const Verdict = Object.freeze({ Intact: 0, Shared: 1, Reallocated: 2, Unknown: 3 } as const);
export type Verdict = (typeof Verdict)[keyof typeof Verdict];
export const VERDICT_NAMES = ['intact', 'shared', 'reallocated', 'unknown'] as const;
export type VerdictName = (typeof VERDICT_NAMES)[number];

/** Whether the evidence vouches for a block's bytes (intact or shared): what undelete re-adds and export writes. */
export function vouchedFor(v: number): boolean {
  return v === Verdict.Intact || v === Verdict.Shared;
}

/** Why a block is unknown, as kept per block in `DeletedDevice.why`; `UNKNOWN_WHY[w]` is its words in reports. */
export const UnknownWhy = Object.freeze({
  None: 0,
  ConflictingGenerations: 1,
  CountedInSpaceMap: 2,
  NoCount: 3,
  AnotherLeafMapsIt: 4,
  AllocatorCameRound: 5,
  PastDataDevice: 6,
} as const);
export type UnknownWhy = (typeof UnknownWhy)[keyof typeof UnknownWhy];

/** Why a block is unknown, for the report, indexed by `UnknownWhy`. */
export const UNKNOWN_WHY = [
  '',
  'conflicting generations',
  'counted in the space map',
  'no count',
  'another leaf maps it',
  'allocator came round',
  'past the data device',
] as const;

export interface DeletedDevice {
  devId: number;
  /** Roots of its mapping tree, from the older top-level leaves that name it. */
  roots: number[];
  /** Older top-level leaves naming it. */
  topLevelCopies: number;
  /** Details from an older details leaf (the copy whose mapped_blocks is the largest), if one survives. */
  details?: DeviceDetails;
  detailsCopies: number;
  /** Its mappings, one per virtual block, in key order, with a verdict (a `Verdict`) each. */
  vblock: Float64Array;
  data: Float64Array;
  time: Uint32Array;
  verdict: Uint8Array;
  /** For unknown blocks: an `UnknownWhy` (an index into UNKNOWN_WHY). */
  why: Uint8Array;
  counts: Record<VerdictName, number> & { mapped: number };
  /** Nodes of its trees that could not be read (their mappings are lost). */
  lostNodes: number;
  /** Virtual blocks its generations map to different data blocks at the same time. */
  conflicts: number;
}

export interface UnattributedLeaf {
  block: number;
  /** Virtual blocks it maps, first and last. */
  lo: number;
  hi: number;
  mappings: number;
}

/** A deleted device's verdict counts, as every listing and report of it gives them. */
export interface DeletedCounts {
  deviceId: number;
  mappedBlocks: number;
  intact: number;
  shared: number;
  reallocated: number;
  unknown: number;
}

export function deletedCounts(d: DeletedDevice): DeletedCounts {
  return {
    deviceId: d.devId,
    mappedBlocks: d.counts.mapped,
    intact: d.counts.intact,
    shared: d.counts.shared,
    reallocated: d.counts.reallocated,
    unknown: d.counts.unknown,
  };
}

export interface DeletedScan {
  devices: DeletedDevice[];
  /** Mapping leaves no live tree and no deleted device's tree reaches. */
  unattributed: UnattributedLeaf[];
  liveDevices: number;
  dataBlockSize: number;
  nrDataBlocks: number;
  metadataBlocks: number;
}

export interface DeletedScanOptions {
  onProgress?: (done: number, total: number) => void;
}

const MAX_DEV_ID = 2 ** 24;

export function scanDeleted(reader: BlockReader, options: DeletedScanOptions = {}): DeletedScan {
  const n = reader.nrBlocks;
  const sb = validateSuperblock(reader.read(0), 0);
  const views: Superblock[] = [sb];
  if (sb.heldRoot > 0 && sb.heldRoot < n) {
    try {
      views.push(validateSuperblock(reader.read(sb.heldRoot), sb.heldRoot));
    } catch {
      // An unreadable held snapshot only hides nothing: its trees are simply not live.
    }
  }
  const nrData = sb.dataSpaceMapRoot.nrBlocks;

  // What the live pool reaches: its nodes (marked) and its devices.
  const live = new Uint8Array(n);
  const walk = new BTreeTraversal(reader, { mark: live, remember: true });
  const liveRoots = new Map<number, number[]>();
  for (const v of views) {
    walk.walk(v.detailsRoot, { valueSize: DEVICE_DETAILS_SIZE, tree: { kind: 'details' }, onProblem: () => {} });
    walk.walk(v.mappingRoot, {
      valueSize: 8,
      tree: { kind: 'top-level' },
      onLeaf: (node) => {
        for (let i = 0; i < node.nrEntries; i++) liveRoots.set(node.key(i), [...(liveRoots.get(node.key(i)) ?? []), node.u64(i)]);
      },
      onProblem: () => {},
    });
  }
  // The live mapping trees are walked once, later: marking them and collecting what they map.

  const scan = NodeScan.run(reader, options.onProgress);
  const buf = new Uint8Array(BLOCK_SIZE);
  const nodeAt = (b: number): BTreeNode => new BTreeNode(reader.readInto(b, buf), b);

  // Device ids any details leaf names, live or older (a one-entry "top-level leaf" must name one).
  const detailIds = new Set<number>();
  const detailLeaves: number[] = [];
  for (let b = 0; b < n; b++) {
    if (scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== DEVICE_DETAILS_SIZE) continue;
    detailLeaves.push(b);
    const node = nodeAt(b);
    for (let i = 0; i < node.nrEntries; i++) detailIds.add(node.key(i));
  }

  // Older top-level leaves: every key a device id, every value a metadata block, at least one of them a
  // mapping-tree node. (A mapping leaf cannot pass with two entries or more: its values would all be data
  // block 0.) A value that is no node any more (a damaged or reused block) costs only its own entry: one
  // device's lost root must not hide the deleted devices the same leaf names.
  const roots = new Map<number, Set<number>>();
  const copies = new Map<number, number>();
  const topLeaves = new Uint8Array(n);
  const isRoot = (v: number): boolean => scan.isNode(v) && scan.valueSize[v] === 8;
  for (let b = 0; b < n; b++) {
    if (scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8 || live[b] || scan.nrEntries[b] === 0) continue;
    const node = nodeAt(b);
    let top = node.nrEntries > 1 || detailIds.has(node.key(0));
    let nodes = 0;
    for (let i = 0; i < node.nrEntries && top; i++) {
      const v = node.u64(i);
      top = node.key(i) < MAX_DEV_ID && v < n;
      if (top && isRoot(v)) nodes++;
    }
    if (!top || nodes === 0) continue;
    topLeaves[b] = 1;
    for (let i = 0; i < node.nrEntries; i++) {
      const id = node.key(i);
      if (liveRoots.has(id) || !isRoot(node.u64(i))) continue;
      let set = roots.get(id);
      if (!set) roots.set(id, (set = new Set()));
      set.add(node.u64(i));
      copies.set(id, (copies.get(id) ?? 0) + 1);
    }
  }

  // Older details leaves: the copies for the deleted ids.
  const details = new Map<number, { best: DeviceDetails; copies: number }>();
  for (const b of detailLeaves) {
    if (live[b]) continue;
    const node = nodeAt(b);
    for (let i = 0; i < node.nrEntries; i++) {
      const id = node.key(i);
      if (!roots.has(id)) continue;
      const d = parseDeviceDetails(node.bytes, node.valueOffset(i));
      const seen = details.get(id);
      if (!seen) details.set(id, { best: d, copies: 1 });
      else {
        seen.copies++;
        if (d.mappedBlocks > seen.best.mappedBlocks) seen.best = d;
      }
    }
  }

  // Each deleted device's generations, merged: one mapping per virtual block.
  const reached = new Uint8Array(n);
  const deleted: DeletedDevice[] = [];
  for (const [devId, rs] of [...roots].sort((a, b) => a[0] - b[0])) {
    const all = new MappingList();
    let lostNodes = 0;
    const devWalk = new BTreeTraversal(reader, { mark: reached, remember: true });
    eachMappingOnce(
      devWalk,
      devId,
      rs,
      (k, d, t) => all.push(k, d, t),
      () => void lostNodes++,
    );
    deleted.push(merge(devId, [...rs], copies.get(devId) ?? 0, details.get(devId), all, lostNodes));
  }

  // One walk of the live mapping trees: their nodes marked live, and who maps the deleted devices' data blocks.
  const { claims, interest } = liveClaims(reader, nrData, deleted, liveRoots, live);

  // Leaves nobody reaches: neither live nor any deleted device's.
  const unattributed: UnattributedLeaf[] = [];
  for (let b = 0; b < n; b++) {
    if (scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8 || live[b] || reached[b] || topLeaves[b] || scan.nrEntries[b] === 0) continue;
    unattributed.push({ block: b, lo: scan.firstKey[b], hi: scan.lastKey[b], mappings: scan.nrEntries[b] });
  }

  judge(reader, sb, deleted, unattributed, claims, interest, nodeAt);
  return { devices: deleted, unattributed, liveDevices: liveRoots.size, dataBlockSize: sb.dataBlockSize, nrDataBlocks: nrData, metadataBlocks: n };
}

/** Every mapping under the roots of one device's trees (its generations, or the live tree and the held snapshot's), each leaf once. */
function eachMappingOnce(
  walk: BTreeTraversal,
  devId: number,
  roots: Iterable<number>,
  fn: (vblock: number, data: number, time: number) => void,
  onProblem: () => void = () => {},
): void {
  const seen = new Set<number>();
  for (const r of roots) {
    walk.walk(r, {
      valueSize: 8,
      tree: { kind: 'mappings', devId },
      onLeaf: (node) => {
        if (seen.has(node.blocknr)) return;
        seen.add(node.blocknr);
        for (let i = 0; i < node.nrEntries; i++) fn(node.key(i), node.dataBlock(i), node.time(i));
      },
      onProblem,
    });
  }
}

/** One mapping per virtual block: the newest time wins; different blocks at the same newest time are a conflict. */
function merge(
  devId: number,
  roots: number[],
  topLevelCopies: number,
  details: { best: DeviceDetails; copies: number } | undefined,
  all: MappingList,
  lostNodes: number,
): DeletedDevice {
  const order = all.sortedOrder();
  const out = new MappingList();
  const conflicted: number[] = [];
  for (let i = 0; i < order.length; ) {
    const k = all.keys[order[i]];
    let best = order[i];
    let conflict = false;
    let j = i;
    for (; j < order.length && all.keys[order[j]] === k; j++) {
      const x = order[j];
      if (all.time[x] > all.time[best]) {
        best = x;
        conflict = false;
      } else if (all.time[x] === all.time[best] && all.data[x] !== all.data[best]) conflict = true;
    }
    if (conflict) conflicted.push(out.length);
    out.push(k, all.data[best], all.time[best]);
    i = j;
  }
  const m = out.length;
  const dev: DeletedDevice = {
    devId,
    roots,
    topLevelCopies,
    details: details?.best,
    detailsCopies: details?.copies ?? 0,
    vblock: out.keys.slice(0, m),
    data: out.data.slice(0, m),
    time: out.time.slice(0, m),
    verdict: new Uint8Array(m),
    why: new Uint8Array(m),
    counts: { mapped: m, intact: 0, shared: 0, reallocated: 0, unknown: 0 },
    lostNodes,
    conflicts: conflicted.length,
  };
  for (const i of conflicted) mark(dev, i, Verdict.Unknown, UnknownWhy.ConflictingGenerations);
  return dev;
}

function mark(dev: DeletedDevice, i: number, v: Verdict, why: UnknownWhy = UnknownWhy.None): void {
  dev.verdict[i] = v;
  dev.why[i] = why;
}

/** What claims a data block besides the deleted device: live mappings and unattributed leaves. */
interface Claim {
  devId: number; // -1: an unattributed leaf
  vblock: number;
  time: number;
}

/**
 * Walks every live mapping tree once: marks its nodes in `live`, and keeps,
 * for the data blocks the deleted devices map (one byte a data block says
 * which), every live mapping of them.
 */
function liveClaims(
  reader: BlockReader,
  nrData: number,
  devices: DeletedDevice[],
  liveRoots: Map<number, number[]>,
  live: Uint8Array,
): { claims: Map<number, Claim[]>; interest: Uint8Array } {
  const interest = new Uint8Array(nrData);
  for (const d of devices) for (const b of d.data) if (b < nrData) interest[b] = 1;
  const claims = new Map<number, Claim[]>();
  const claim = (b: number, c: Claim): void => {
    if (!(b < nrData) || !interest[b]) return;
    const list = claims.get(b);
    if (list) list.push(c);
    else claims.set(b, [c]);
  };
  const walk = new BTreeTraversal(reader, { mark: live, remember: true });
  for (const [devId, rs] of liveRoots) eachMappingOnce(walk, devId, rs, (vblock, d, time) => claim(d, { devId, vblock, time }));
  return { claims, interest };
}

function judge(
  reader: BlockReader,
  sb: Superblock,
  devices: DeletedDevice[],
  unattributed: UnattributedLeaf[],
  claims: Map<number, Claim[]>,
  /** 1 for the data blocks the deleted devices map (liveClaims made it). */
  interest: Uint8Array,
  nodeAt: (b: number) => BTreeNode,
): void {
  const nrData = sb.dataSpaceMapRoot.nrBlocks;
  const others = new Map<number, Claim[]>();
  for (const leaf of unattributed) {
    const node = nodeAt(leaf.block);
    for (let i = 0; i < node.nrEntries; i++) {
      const b = node.dataBlock(i);
      if (!(b < nrData) || !interest[b]) continue;
      const c = { devId: -1, vblock: node.key(i), time: node.time(i) };
      const list = others.get(b);
      if (list) list.push(c);
      else others.set(b, [c]);
    }
  }
  // Other deleted devices' mappings of the same block count as claimants unless they agree (snapshot relatives).
  const disputed = disputedByOtherDeleted(devices);
  const counts = new SpaceMapLookup(reader, sb.dataSpaceMapRoot);
  for (const dev of devices) {
    const isDisputed = must(disputed.get(dev), "a deleted device's disputed flags");
    const zeroCount: number[] = [];
    // Evidence that the allocator has handed some of this device's blocks to something else since.
    let cameRound = false;
    for (let i = 0; i < dev.data.length; i++) {
      if (dev.verdict[i] === Verdict.Unknown) continue; // a conflict, already judged
      const b = dev.data[i];
      const v = dev.vblock[i];
      const t = dev.time[i];
      if (!(b < nrData)) {
        mark(dev, i, Verdict.Unknown, UnknownWhy.PastDataDevice);
        continue;
      }
      const agrees = (c: Claim): boolean => c.vblock === v && c.time === t;
      const live = claims.get(b);
      if (live?.length) {
        if (live.every(agrees)) mark(dev, i, Verdict.Shared);
        else {
          mark(dev, i, Verdict.Reallocated);
          cameRound = true;
        }
        continue;
      }
      const count = counts.get(b);
      if (count === undefined) {
        mark(dev, i, Verdict.Unknown, UnknownWhy.NoCount);
        continue;
      }
      if (count > 0) {
        mark(dev, i, Verdict.Unknown, UnknownWhy.CountedInSpaceMap);
        continue;
      }
      if (isDisputed[i] || (others.get(b) ?? []).some((c) => !agrees(c))) {
        mark(dev, i, Verdict.Unknown, UnknownWhy.AnotherLeafMapsIt);
        // Another tree used the block: whether before this device or after its delete, the leaves cannot say.
        cameRound = true;
        continue;
      }
      zeroCount.push(i);
    }
    // Once the allocator has reused one of this device's blocks, a free one may have been used and freed since.
    for (const i of zeroCount)
      if (cameRound) mark(dev, i, Verdict.Unknown, UnknownWhy.AllocatorCameRound);
      else mark(dev, i, Verdict.Intact);
    for (let i = 0; i < dev.verdict.length; i++) dev.counts[VERDICT_NAMES[dev.verdict[i]]]++;
  }
}

/**
 * Per deleted device, 1 where another deleted device maps the same data
 * block with another virtual block or time: all the deleted mappings sorted
 * by data block in typed columns, each group of one data block compared.
 */
function disputedByOtherDeleted(devices: DeletedDevice[]): Map<DeletedDevice, Uint8Array> {
  const flags = devices.map((d) => new Uint8Array(d.data.length));
  const out = new Map(devices.map((d, i) => [d, flags[i]] as const));
  const total = devices.reduce((n, d) => n + d.data.length, 0);
  if (devices.length < 2 || total === 0) return out;
  const dev = new Uint32Array(total);
  const at = new Uint32Array(total);
  let k = 0;
  devices.forEach((d, di) => {
    for (let i = 0; i < d.data.length; i++) {
      dev[k] = di;
      at[k++] = i;
    }
  });
  const data = (x: number): number => devices[dev[x]].data[at[x]];
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  order.sort((x, y) => data(x) - data(y));
  for (let i = 0; i < total; ) {
    let j = i + 1;
    while (j < total && data(order[j]) === data(order[i])) j++;
    for (let p = i; p < j; p++) {
      const x = order[p];
      const dx = devices[dev[x]];
      for (let q = i; q < j; q++) {
        const y = order[q];
        if (dev[y] === dev[x]) continue;
        const dy = devices[dev[y]];
        if (dy.vblock[at[y]] !== dx.vblock[at[x]] || dy.time[at[y]] !== dx.time[at[x]]) flags[dev[x]][at[x]] = 1;
      }
    }
    i = j;
  }
  return out;
}
