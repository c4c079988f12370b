/**
 * What every stage of a salvage shares: the metadata, the options, the
 * notes and counts for the report, the block scan (run once, when first
 * needed), and the readers of the small trees (top level, details) that
 * root finding and recovery both use.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { BTreeNode } from '../../format/btree-node.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../../format/device-details.js';
import { MetadataError } from '../../format/errors.js';
import { type Superblock, validateSuperblock } from '../../format/superblock.js';
import { NodeKind, NodeScan } from '../../pdata/btree/node-scan.js';
import type { RefCounts } from '../../pdata/ref-counts.js';
import { type KeyRange, isWholeRange } from '../../pdata/btree/problem.js';
import { BTreeTraversal, type LeafCheck, MAX_DEPTH } from '../../pdata/btree/traversal.js';
import type { DumpHeader, HeaderOverrides } from '../dump/dump.js';
import type { MappingList } from '../mapping-list.js';

/** thin_repair's overrides (applied as applyOverrides does), and repair's own choices. */
export interface SalvageOptions extends HeaderOverrides {
  /** Use these roots instead of the superblock's (when it is lost or stale and the scan chose wrong). */
  mappingRoot?: number;
  detailsRoot?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A key range lost from a tree: the node that failed, and why. */
export interface Hole extends KeyRange {
  block: number;
  why: string;
}

export interface SalvagedDevice {
  devId: number;
  /** As they will be written; mappedBlocks counts what is emitted. */
  details: DeviceDetails;
  detailsSource: 'newest' | 'rebuilt';
  /** The newest mapping tree's root, undefined when it is lost. */
  root: number | undefined;
  intact: number;
  holes: Hole[];
  /** Mappings recovered for its holes from older copies, sorted by virtual block. */
  recovered: MappingList;
}

export interface SalvageStats {
  devices: number;
  intactMappings: number;
  recoveredMappings: number;
  /** Key ranges lost from the newest trees. */
  holes: number;
  /** Older mappings refused, by reason. */
  refused: {
    ambiguous: number;
    stale: number;
    foreign: number;
    otherTime: number;
    overclaimed: number;
    contested: number;
    unknownCount: number;
    excess: number;
  };
  scanned: boolean;
}

export interface Salvage {
  header: DumpHeader;
  /**
   * The walker that judged the newest mapping trees: emitting walks them
   * again with its verdicts (no checksum computed twice) and so meets the
   * same lost ranges.
   */
  walker: BTreeTraversal;
  devices: SalvagedDevice[];
  /** What was found and decided, one line each, for the admin. */
  notes: string[];
  /** Whether anything was found wrong (a healthy file's only note says its superblock is valid). */
  damaged: boolean;
  stats: SalvageStats;
  /** 1 for every node the newest trees use (the rest are free or older copies). */
  live?: Uint8Array;
}

export interface TopLevel {
  root: number;
  ids: Map<number, number>;
  holes: Hole[];
}
export interface DetailsTree {
  root: number;
  details: Map<number, DeviceDetails>;
  holes: Hole[];
}

/** Adds one to the count of each data block a mapping leaf maps: the kernel counts data blocks per leaf. */
export function countLeafData(node: BTreeNode, counts: RefCounts): void {
  for (let i = 0; i < node.nrEntries; i++) counts.inc(node.dataBlock(i));
}

export function inHoles(holes: readonly Hole[], k: number): boolean {
  for (const h of holes) if (k >= h.lo && k < h.hi) return true;
  return false;
}

/** Refuses mapping leaves that name a data block at or past `limit`. */
export function mappingLeafCheck(limit: number): LeafCheck {
  return (node) => {
    for (let i = 0; i < node.nrEntries; i++) {
      const d = node.dataBlock(i);
      if (d >= limit) return `virtual block ${node.key(i)} maps to data block ${d}, past the end of the data device (${limit} blocks)`;
    }
    return undefined;
  };
}

export class SalvageContext {
  readonly notes: string[] = [];
  readonly n: number;
  private scan: NodeScan | undefined;
  private readonly topWalker: BTreeTraversal;
  private readonly detailsWalker: BTreeTraversal;
  /** The superblock's block count when the file is shorter, else 0. */
  truncated = 0;
  readonly stats: SalvageStats = {
    devices: 0,
    intactMappings: 0,
    recoveredMappings: 0,
    holes: 0,
    refused: { ambiguous: 0, stale: 0, foreign: 0, otherTime: 0, overclaimed: 0, contested: 0, unknownCount: 0, excess: 0 },
    scanned: false,
  };

  constructor(
    readonly reader: BlockReader,
    readonly options: SalvageOptions,
  ) {
    this.n = reader.nrBlocks;
    const n = this.n;
    const leafCheck: LeafCheck = (node) => {
      for (let i = 0; i < node.nrEntries; i++) {
        const v = node.u64(i);
        if (v >= n) return `thin device ${node.key(i)}'s mapping root ${v} is past the end of the metadata`;
      }
      return undefined;
    };
    this.topWalker = new BTreeTraversal(reader, { leafCheck, remember: true });
    this.detailsWalker = new BTreeTraversal(reader, { remember: true });
  }

  /** Block `b` read as a node (the caller knows from the scan that it is one). */
  node(b: number): BTreeNode {
    return new BTreeNode(this.reader.read(b), b);
  }

  /** Whether a note so far said something was wrong. */
  damaged = false;

  /** Notes a finding or decision about damage. */
  note(s: string): void {
    this.notes.push(s);
    this.damaged = true;
  }

  /** Notes what is as it should be. */
  info(s: string): void {
    this.notes.push(s);
  }

  nodeScan(): NodeScan {
    if (!this.scan) {
      this.scan = NodeScan.run(this.reader, this.options.onProgress);
      this.stats.scanned = true;
      const c = this.scan.counts;
      this.note(
        `scanned ${this.n} metadata blocks: ${c.nodes} B-tree nodes, ${c.bitmaps} bitmaps, ${c.indexes} index blocks, ${c.superblocks} superblocks, ${c.unknown} other (free, zeroed or damaged)`,
      );
    }
    return this.scan;
  }

  readTop(root: number): TopLevel {
    const ids = new Map<number, number>();
    const holes: Hole[] = [];
    this.topWalker.walk(root, {
      valueSize: 8,
      tree: { kind: 'top-level' },
      onLeaf: (node) => {
        for (let i = 0; i < node.nrEntries; i++) ids.set(node.key(i), node.u64(i));
      },
      onProblem: (p) => holes.push({ ...p.range, block: p.block, why: p.message }),
    });
    return { root, ids, holes };
  }

  readDetails(root: number): DetailsTree {
    const details = new Map<number, DeviceDetails>();
    const holes: Hole[] = [];
    this.detailsWalker.walk(root, {
      valueSize: DEVICE_DETAILS_SIZE,
      tree: { kind: 'details' },
      onLeaf: (node) => {
        for (let i = 0; i < node.nrEntries; i++) details.set(node.key(i), parseDeviceDetails(node.bytes, node.valueOffset(i)));
      },
      onProblem: (p) => holes.push({ ...p.range, block: p.block, why: p.message }),
    });
    return { root, details, holes };
  }

  /** Ids one tree has that the other neither has nor lost: a sign the two are not one generation. */
  mismatches(top: TopLevel, det: DetailsTree): number {
    let bad = 0;
    for (const id of top.ids.keys()) if (!det.details.has(id) && !inHoles(det.holes, id)) bad++;
    for (const id of det.details.keys()) if (!top.ids.has(id) && !inHoles(top.holes, id)) bad++;
    return bad;
  }

  /** A whole tree lost: its root itself is unusable. */
  static wholeLoss(holes: readonly Hole[]): boolean {
    return holes.length === 1 && isWholeRange(holes[0]);
  }

  /** Adds the data blocks of leaves only the metadata snapshot reaches; false if any of its nodes is unusable. */
  countSnapshotLeaves(
    held: number,
    seenLeaf: Uint8Array,
    implied: RefCounts,
    leafCheck: LeafCheck,
    /** Blocks already lost from the newest trees: the snapshot sharing them loses nothing more. */
    lostBlocks: ReadonlySet<number>,
  ): boolean {
    let snap: Superblock;
    try {
      snap = validateSuperblock(this.reader.read(held), held);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      this.note(`metadata snapshot: ${e.message}`);
      return false;
    }
    const top = this.readTop(snap.mappingRoot);
    let intact = top.holes.length === 0;
    const walker = new BTreeTraversal(this.reader, { leafCheck, remember: true });
    for (const [devId, root] of top.ids) {
      walker.walk(root, {
        valueSize: 8,
        tree: { kind: 'mappings', devId, snapshot: true },
        onLeaf: (node) => {
          if (seenLeaf[node.location]) return;
          seenLeaf[node.location] = 1;
          countLeafData(node, implied);
        },
        onProblem: (p) => {
          if (!lostBlocks.has(p.block)) intact = false;
        },
      });
    }
    return intact;
  }

  /** A top-level tree whose values mostly point at usable mapping nodes. */
  topLooksReal(top: TopLevel, vouched = false): boolean {
    if (top.ids.size === 0) return true;
    let ok = 0;
    const probe = new BTreeTraversal(this.reader);
    for (const r of top.ids.values()) if (probe.usable(r, 8)) ok++;
    // Named by a valid superblock, it is the top level: one device's lost root
    // must not cost the others theirs (two devices, one root destroyed, was
    // judged "not a top level" and both were rebuilt from older copies). A
    // node found by scanning needs most of its values to be roots, or a
    // mapping leaf could pass for one.
    return vouched ? ok > 0 : ok * 2 > top.ids.size;
  }

  /** Value size of the leaves under `b` (following first children), or 0. */
  leafValueSize(scan: NodeScan, b: number): { vs: number; leaf: number } {
    let at = b;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      if (!scan.isNode(at)) return { vs: 0, leaf: -1 };
      if (scan.kind[at] === NodeKind.Leaf) return { vs: scan.valueSize[at], leaf: at };
      if (scan.nrEntries[at] === 0) return { vs: 0, leaf: -1 };
      at = this.node(at).u64(0);
    }
    return { vs: 0, leaf: -1 };
  }

  /** Whether a leaf with 8-byte values is a top-level leaf (values are usable mapping roots). */
  isTopLevelLeaf(scan: NodeScan, leaf: number): boolean {
    const node = this.node(leaf);
    if (node.nrEntries === 0) return false;
    for (let i = 0; i < node.nrEntries; i++) {
      const v = node.u64(i);
      if (!(v < this.n) || !scan.isNode(v) || scan.valueSize[v] !== 8) return false;
    }
    return true;
  }

  /** Mappings under `root` (memoised per node; -1 when some node is unusable). */
  subtreeCount(scan: NodeScan, root: number, memo: Map<number, number>): number {
    const cached = memo.get(root);
    if (cached !== undefined) return cached;
    let c: number;
    if (!scan.isNode(root) || scan.valueSize[root] !== 8) c = -1;
    else if (scan.kind[root] === NodeKind.Leaf) c = scan.nrEntries[root];
    else {
      const node = this.node(root);
      memo.set(root, -1); // a cycle counts as unusable
      c = 0;
      for (let i = 0; i < node.nrEntries; i++) {
        const x = this.subtreeCount(scan, node.u64(i), memo);
        if (x < 0) {
          c = -1;
          break;
        }
        c += x;
      }
    }
    memo.set(root, c);
    return c;
  }
}
