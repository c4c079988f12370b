/**
 * Works out what a repair can rebuild from damaged metadata, without
 * writing anything: the superblock fields, the device list and, per
 * device, the newest mapping tree with its lost key ranges ("holes") and
 * the mappings that older copies of lost nodes can give back.
 *
 * Principles (a wrong mapping silently hands a user stale or foreign data;
 * a missing one reads as zeros and is reported):
 * - The newest generation wins. A superblock with a valid checksum names
 *   it. A superblock whose checksum is bad but whose magic and fields are
 *   sane still names it once its roots prove consistent (a torn or
 *   bit-flipped superblock costs nothing). Only when neither works are
 *   roots chosen among all unreferenced nodes the scan finds.
 * - Older copies fill holes only where the newest generation vouches for
 *   them: an older mapping (v -> d) is taken only if d is inside a lost
 *   range of that device, the newest data space map counts d more often
 *   than the surviving trees use it (so some lost leaf held it), no
 *   surviving mapping puts d at another virtual block, every older copy
 *   of v agrees on d, and the device does not end up with more mappings
 *   than its newest details say it has.
 * - Device details that are lost are rebuilt so that the kernel treats
 *   every existing block as shared (snapshotted_time after every mapping's
 *   time): a write then copies instead of overwriting a block a snapshot
 *   might still use.
 */
import type { BlockReader } from '../io/block-reader.js';
import { TIME_MASK } from '../format/block-time.js';
import { keyAt, u64ValueAt, valueOffset } from '../format/btree-node.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../format/device-details.js';
import { MetadataError, UsageError } from '../format/errors.js';
import { getU32 } from '../format/le.js';
import {
  MAX_DATA_BLOCK_SIZE,
  MIN_DATA_BLOCK_SIZE,
  SUPERBLOCK_MAGIC,
  type Superblock,
  parseSuperblock,
  validateSuperblock,
} from '../format/superblock.js';
import { grow } from '../pdata/grow.js';
import { NodeKind, NodeScan } from '../pdata/node-scan.js';
import { RefCounts } from '../pdata/ref-counts.js';
import { type LeafCheck, SalvageWalker } from '../pdata/salvage-walk.js';
import { SpaceMapLookup } from '../pdata/space-map-lookup.js';
import { type DumpHeader, uuidText } from './dump.js';

export interface SalvageOptions {
  /** thin_repair's overrides: the transaction id and nr_data_blocks only ever grow; the block size replaces. */
  transactionId?: number;
  dataBlockSize?: number;
  nrDataBlocks?: number;
  /** Use these roots instead of the superblock's (when it is lost or stale and the scan chose wrong). */
  mappingRoot?: number;
  detailsRoot?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Mappings recovered for one device, sorted by virtual block. */
export interface MappingList {
  keys: Float64Array;
  data: Float64Array;
  time: Uint32Array;
  length: number;
}

export interface Hole {
  lo: number;
  hi: number;
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
  recovered: MappingList;
}

export interface SalvageStats {
  devices: number;
  intactMappings: number;
  recoveredMappings: number;
  /** Key ranges lost from the newest trees. */
  holes: number;
  /** Older mappings refused, by reason. */
  refused: { ambiguous: number; stale: number; foreign: number; unknownCount: number; excess: number };
  scanned: boolean;
}

export interface Salvage {
  header: DumpHeader;
  /** Mapping leaves naming a data block at or past this were judged unusable; emitting must judge alike. */
  dataLimit: number;
  devices: SalvagedDevice[];
  /** What was found and decided, one line each, for the admin. */
  notes: string[];
  stats: SalvageStats;
}

const EMPTY_LIST: MappingList = { keys: new Float64Array(0), data: new Float64Array(0), time: new Uint32Array(0), length: 0 };

class Growing {
  keys = new Float64Array(256);
  data = new Float64Array(256);
  time = new Uint32Array(256);
  length = 0;
  push(k: number, d: number, t: number): void {
    if (this.length === this.keys.length) {
      this.keys = grow(this.keys);
      this.data = grow(this.data);
      this.time = grow(this.time);
    }
    this.keys[this.length] = k;
    this.data[this.length] = d;
    this.time[this.length++] = t;
  }
}

interface TopLevel {
  root: number;
  ids: Map<number, number>;
  holes: Hole[];
}
interface DetailsTree {
  root: number;
  details: Map<number, DeviceDetails>;
  holes: Hole[];
}

/** What block 0 still tells, field by field. */
interface SuperblockEvidence {
  state: 'valid' | 'damaged' | 'lost';
  sb?: Superblock;
  why?: string;
  dataBlockSize?: number;
  nrDataBlocks?: number;
  transactionId?: number;
  time?: number;
}

function inHoles(holes: readonly Hole[], k: number): boolean {
  for (const h of holes) if (k >= h.lo && k < h.hi) return true;
  return false;
}

function validBlockSize(n: number): boolean {
  return n >= MIN_DATA_BLOCK_SIZE && n <= MAX_DATA_BLOCK_SIZE && n % MIN_DATA_BLOCK_SIZE === 0;
}

function readSuperblockEvidence(reader: BlockReader): SuperblockEvidence {
  const b = reader.read(0);
  try {
    const sb = validateSuperblock(b, 0);
    return {
      state: 'valid',
      sb,
      dataBlockSize: sb.dataBlockSize,
      nrDataBlocks: sb.dataSpaceMapRoot.nrBlocks,
      transactionId: sb.transactionId,
      time: sb.time,
    };
  } catch (e) {
    if (!(e instanceof MetadataError)) throw e;
    const sb = parseSuperblock(b);
    if (sb.magic !== SUPERBLOCK_MAGIC || sb.blocknr !== 0) return { state: 'lost', why: e.message };
    // Magic and location hold: the fields are likely intact (a torn write or
    // a flipped bit); take each one that is sane.
    const ev: SuperblockEvidence = { state: 'damaged', sb, why: e.message };
    if (validBlockSize(sb.dataBlockSize)) ev.dataBlockSize = sb.dataBlockSize;
    if (sb.dataSpaceMapRoot.nrBlocks > 0 && sb.dataSpaceMapRoot.nrBlocks <= 2 ** 40) ev.nrDataBlocks = sb.dataSpaceMapRoot.nrBlocks;
    ev.transactionId = sb.transactionId;
    if (sb.time <= TIME_MASK) ev.time = sb.time;
    return ev;
  }
}

/** Refuses mapping leaves that name a data block at or past `limit`. */
export function mappingLeafCheck(limit: number): LeafCheck {
  return (b, loc, nr, max) => {
    const vbase = valueOffset(max, 8, 0);
    for (let i = 0; i < nr; i++) {
      const d = getU32(b, vbase + 8 * i + 4) * 256 + (b[vbase + 8 * i + 3]! >>> 0);
      if (d >= limit) return `block ${loc}: virtual block ${keyAt(b, i)} maps to data block ${d}, past the end of the data device (${limit} blocks)`;
    }
    return undefined;
  };
}

export function salvage(reader: BlockReader, options: SalvageOptions = {}): Salvage {
  return new Salvager(reader, options).run();
}

class Salvager {
  private readonly notes: string[] = [];
  private readonly n: number;
  private scan: NodeScan | undefined;
  private readonly topWalker: SalvageWalker;
  private readonly detailsWalker: SalvageWalker;
  private nrDataBlocksForCheck = Infinity;
  private readonly stats: SalvageStats = {
    devices: 0,
    intactMappings: 0,
    recoveredMappings: 0,
    holes: 0,
    refused: { ambiguous: 0, stale: 0, foreign: 0, unknownCount: 0, excess: 0 },
    scanned: false,
  };

  constructor(
    private readonly reader: BlockReader,
    private readonly options: SalvageOptions,
  ) {
    this.n = reader.nrBlocks;
    const n = this.n;
    this.topWalker = new SalvageWalker(reader, 8, (b, loc, nr, max) => {
      for (let i = 0; i < nr; i++) {
        const v = u64ValueAt(b, max, i);
        if (v >= n) return `block ${loc}: thin device ${keyAt(b, i)}'s mapping root ${v} is past the end of the metadata`;
      }
      return undefined;
    });
    this.detailsWalker = new SalvageWalker(reader, DEVICE_DETAILS_SIZE);
  }

  private note(s: string): void {
    this.notes.push(s);
  }

  private nodeScan(): NodeScan {
    if (!this.scan) {
      this.scan = NodeScan.run(this.reader, this.options.onProgress);
      this.stats.scanned = true;
      const c = this.scan.counts;
      this.note(`scanned ${this.n} metadata blocks: ${c.nodes} B-tree nodes, ${c.bitmaps} bitmaps, ${c.indexes} index blocks, ${c.superblocks} superblocks, ${c.unknown} other (free, zeroed or damaged)`);
    }
    return this.scan;
  }

  private readTop(root: number): TopLevel {
    const ids = new Map<number, number>();
    const holes: Hole[] = [];
    this.topWalker.walk(
      root,
      (b, _loc, nr, max) => {
        for (let i = 0; i < nr; i++) ids.set(keyAt(b, i), u64ValueAt(b, max, i));
      },
      (lo, hi, block, why) => holes.push({ lo, hi, block, why }),
    );
    return { root, ids, holes };
  }

  private readDetails(root: number): DetailsTree {
    const details = new Map<number, DeviceDetails>();
    const holes: Hole[] = [];
    this.detailsWalker.walk(
      root,
      (b, _loc, nr, max) => {
        for (let i = 0; i < nr; i++) details.set(keyAt(b, i), parseDeviceDetails(b, valueOffset(max, DEVICE_DETAILS_SIZE, i)));
      },
      (lo, hi, block, why) => holes.push({ lo, hi, block, why }),
    );
    return { root, details, holes };
  }

  /** Ids one tree has that the other neither has nor lost: a sign the two are not one generation. */
  private mismatches(top: TopLevel, det: DetailsTree): number {
    let bad = 0;
    for (const id of top.ids.keys()) if (!det.details.has(id) && !inHoles(det.holes, id)) bad++;
    for (const id of det.details.keys()) if (!top.ids.has(id) && !inHoles(top.holes, id)) bad++;
    return bad;
  }

  /** A whole tree lost: its root itself is unusable. */
  private static wholeLoss(holes: readonly Hole[]): boolean {
    return holes.length === 1 && holes[0]!.lo === 0 && holes[0]!.hi === Infinity;
  }

  run(): Salvage {
    const ev = readSuperblockEvidence(this.reader);
    this.truncated = ev.sb !== undefined && ev.sb.metadataNrBlocks > this.n ? ev.sb.metadataNrBlocks : 0;
    if (this.truncated) this.note(`the metadata is truncated: the superblock says ${this.truncated} blocks, the file holds ${this.n}`);
    if (ev.state === 'valid') this.note('superblock: valid');
    else if (ev.state === 'damaged') this.note(`superblock: ${ev.why}; its magic and location hold, so its fields are used where they are sane`);
    else this.note(`superblock: lost (${ev.why}); everything is rebuilt from the rest of the metadata`);
    if (ev.nrDataBlocks !== undefined) this.nrDataBlocksForCheck = ev.nrDataBlocks;
    const leafCheck = mappingLeafCheck(this.nrDataBlocksForCheck);
    const live = new Uint8Array(this.n);
    const mappingWalker = new SalvageWalker(this.reader, 8, leafCheck, live);

    // 1. The newest generation's roots.
    const { top, det } = this.chooseRoots(ev);

    // 2. Devices, and a first pass over every mapping tree: what survives,
    // what is lost, how often surviving leaves use each data block.
    const ids = new Set<number>([...(top?.ids.keys() ?? []), ...(det?.details.keys() ?? [])]);
    const devices: SalvagedDevice[] = [];
    const seenLeaf = new Uint8Array(this.n);
    const dataSmAvailable = ev.sb !== undefined && ev.nrDataBlocks !== undefined;
    const implied = dataSmAvailable ? new RefCounts(ev.nrDataBlocks!) : undefined;
    let maxData = -1;
    let maxTime = 0;
    // Snapshot families: devices whose newest trees share a node (or lost the same one).
    const family = new Families();
    const leafOwner = new Int32Array(this.n).fill(-1);
    const holeOwner = new Map<number, number>();
    for (const id of [...ids].sort((a, b) => a - b)) {
      const root = top?.ids.get(id);
      const d = det?.details.get(id);
      const dev: SalvagedDevice = {
        devId: id,
        details: d ? { ...d } : { mappedBlocks: 0, transactionId: 0, creationTime: 0, snapshottedTime: 0 },
        detailsSource: d ? 'newest' : 'rebuilt',
        root,
        intact: 0,
        holes: [],
        recovered: EMPTY_LIST,
      };
      if (root === undefined) {
        dev.holes.push({ lo: 0, hi: Infinity, block: top?.root ?? 0, why: 'its entry in the top level of the mapping tree is lost' });
      } else {
        mappingWalker.walk(
          root,
          (b, loc, nr, max) => {
            dev.intact += nr;
            const vbase = valueOffset(max, 8, 0);
            const firstUse = !seenLeaf[loc];
            seenLeaf[loc] = 1;
            if (leafOwner[loc]! < 0) leafOwner[loc] = id;
            else family.join(id, leafOwner[loc]!);
            for (let i = 0; i < nr; i++) {
              const lo = getU32(b, vbase + 8 * i);
              const db = getU32(b, vbase + 8 * i + 4) * 256 + (lo >>> 24);
              const t = lo & TIME_MASK;
              if (db > maxData) maxData = db;
              if (t > maxTime) maxTime = t;
              // The kernel counts a data block once per leaf holding it, not per device sharing the leaf.
              if (firstUse && implied) implied.inc(db);
            }
          },
          (lo, hi, block, why) => dev.holes.push({ lo, hi, block, why }),
        );
      }
      for (const h of dev.holes) {
        const other = holeOwner.get(h.block);
        if (other === undefined) holeOwner.set(h.block, id);
        else family.join(id, other);
      }
      for (const h of dev.holes) this.note(`thin device ${id}: virtual blocks ${h.lo}..${h.hi === Infinity ? 'end' : h.hi - 1} lost from the newest tree: ${h.why}`);
      this.stats.holes += dev.holes.length;
      this.stats.intactMappings += dev.intact;
      devices.push(dev);
    }
    // Leaves only the held metadata snapshot still uses are counted by the
    // data space map too: without them a stale older mapping would look vouched for.
    let snapshotIntact = true;
    if (implied && ev.sb && ev.sb.heldRoot > 0) {
      const lostBlocks = new Set(devices.flatMap((d) => d.holes.map((h) => h.block)));
      snapshotIntact = this.countSnapshotLeaves(ev.sb.heldRoot, seenLeaf, implied, leafCheck, lostBlocks);
    }

    if (top && det) {
      for (const h of top.holes) this.note(`top level of the mapping tree: thin ids ${h.lo}..${h.hi === Infinity ? 'end' : h.hi - 1} lost: ${h.why}`);
      for (const h of det.holes) this.note(`device details tree: thin ids ${h.lo}..${h.hi === Infinity ? 'end' : h.hi - 1} lost: ${h.why}`);
      for (const h of top.holes) {
        for (const hd of det.holes) {
          const lo = Math.max(h.lo, hd.lo);
          const hi = Math.min(h.hi, hd.hi);
          if (lo < hi) this.note(`thin ids ${lo}..${hi === Infinity ? 'end' : hi - 1} are lost from both trees: any device there cannot be told from a deleted one and is not recovered`);
        }
      }
    }

    // 3. Holes: older copies, where the newest generation vouches for them.
    if (devices.some((d) => d.holes.length > 0)) {
      if (implied && ev.sb && snapshotIntact) this.recover(devices, live, implied, ev.sb, leafCheck, family);
      else if (!snapshotIntact) this.note('older copies of lost nodes are not used: the metadata snapshot\'s trees are damaged too, so the space map cannot vouch for them');
      else this.note('older copies of lost nodes are not used: without the superblock\'s data space map nothing can vouch for them');
    }

    // 4. The superblock to write.
    const header = this.header(ev, det, maxData, maxTime, devices);
    for (const d of devices) {
      d.details.mappedBlocks = d.intact + d.recovered.length;
      if (det && d.detailsSource === 'newest' && d.holes.length === 0 && det.details.get(d.devId)!.mappedBlocks !== d.intact) {
        this.note(`thin device ${d.devId}: details said ${det.details.get(d.devId)!.mappedBlocks} mapped blocks, its tree holds ${d.intact}; writing ${d.intact}`);
      }
    }
    this.stats.devices = devices.length;
    return { header, dataLimit: this.nrDataBlocksForCheck, devices, notes: this.notes, stats: this.stats };
  }

  /** Adds the data blocks of leaves only the metadata snapshot reaches; false if any of its nodes is unusable. */
  private countSnapshotLeaves(
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
      this.note(`metadata snapshot at block ${held}: ${e.message}`);
      return false;
    }
    const top = this.readTop(snap.mappingRoot);
    let intact = top.holes.length === 0;
    const walker = new SalvageWalker(this.reader, 8, leafCheck);
    for (const root of top.ids.values()) {
      walker.walk(
        root,
        (b, loc, nr, max) => {
          if (seenLeaf[loc]) return;
          seenLeaf[loc] = 1;
          const vbase = valueOffset(max, 8, 0);
          for (let i = 0; i < nr; i++) implied.inc(getU32(b, vbase + 8 * i + 4) * 256 + (getU32(b, vbase + 8 * i) >>> 24));
        },
        (_lo, _hi, block) => {
          if (!lostBlocks.has(block)) intact = false;
        },
      );
    }
    return intact;
  }

  /** Picks the (top level, details) pair of the newest generation. */
  private chooseRoots(ev: SuperblockEvidence): { top: TopLevel | undefined; det: DetailsTree | undefined } {
    const o = this.options;
    const wantM = o.mappingRoot ?? ev.sb?.mappingRoot;
    const wantD = o.detailsRoot ?? ev.sb?.detailsRoot;
    let top = wantM !== undefined && wantM < this.n ? this.readTop(wantM) : undefined;
    let det = wantD !== undefined && wantD < this.n ? this.readDetails(wantD) : undefined;
    if (top && Salvager.wholeLoss(top.holes)) top = undefined;
    if (det && Salvager.wholeLoss(det.holes)) det = undefined;
    if (top && !this.topLooksReal(top)) top = undefined;
    const given = o.mappingRoot !== undefined || o.detailsRoot !== undefined;
    if (top && det && this.mismatches(top, det) === 0) {
      if (given) this.note(`using the roots given: mapping ${top.root}, details ${det.root}`);
      else if (ev.state !== 'valid') this.note(`the superblock's roots (mapping ${top.root}, details ${det.root}) are consistent with each other: using them`);
      return { top, det };
    }
    if (given && top && det) {
      throw new UsageError(`the given roots do not belong together: mapping root ${top.root} and details root ${det.root} list different thin devices`);
    }
    if (ev.sb) {
      const why = !top ? `mapping root ${wantM} is not a usable top-level tree` : !det ? `details root ${wantD} is not a usable device details tree` : 'its mapping and details trees list different thin devices';
      this.note(`the superblock's roots are stale or damaged (${why}): looking among all nodes for trees that fit`);
    }
    const found = this.searchRoots(ev, top, det) ?? (det && !top ? this.assembleTop(ev, det) : undefined);
    if (found) return found;
    // A valid superblock names the newest generation even where its trees
    // are lost: keep what survives of it and let the rest be holes, rather
    // than fall back to an older generation's stale mappings.
    if (ev.state === 'valid' && (top || det)) {
      if (!top) this.note('no surviving top level fits the newest space map: each device\'s mappings are recovered from older copies only where vouched for');
      if (!det) this.note('no surviving device details tree fits: the details are rebuilt');
      return { top, det };
    }
    return this.bestGuess();
  }

  /** The superblock's block count when the file is shorter, else 0. */
  private truncated = 0;

  private candidates: { tops: TopLevel[]; dets: DetailsTree[] } | undefined;

  /** Every unreferenced usable top level and details tree the scan finds. */
  private findCandidates(): { tops: TopLevel[]; dets: DetailsTree[] } {
    if (this.candidates) return this.candidates;
    const scan = this.nodeScan();
    const tops: TopLevel[] = [];
    const dets: DetailsTree[] = [];
    for (let b = 0; b < this.n; b++) {
      if (scan.kind[b] === NodeKind.None || scan.referenced[b]) continue;
      const { vs, leaf } = this.leafValueSize(scan, b);
      if (vs === DEVICE_DETAILS_SIZE) {
        const d = this.readDetails(b);
        if (d.holes.length === 0) dets.push(d);
      } else if (vs === 8 && leaf >= 0 && this.isTopLevelLeaf(scan, leaf)) {
        const t = this.readTop(b);
        if (t.holes.length === 0) tops.push(t);
      }
    }
    // An empty details tree pairs with an empty top level: find one for it.
    if (dets.some((d) => d.details.size === 0) && !tops.some((t) => t.ids.size === 0)) {
      for (let b = 0; b < this.n; b++) {
        if (scan.kind[b] === NodeKind.Leaf && scan.valueSize[b] === 8 && scan.nrEntries[b] === 0 && !scan.referenced[b]) {
          tops.push({ root: b, ids: new Map(), holes: [] });
          break;
        }
      }
    }
    this.note(`root candidates: ${tops.length} top-level trees, ${dets.length} device details trees`);
    return (this.candidates = { tops, dets });
  }

  /**
   * With the superblock's data space map to hand: the pair of trees whose
   * mappings account for exactly its counts, block for block. That is the
   * generation the space map was committed with, whatever else is lost.
   */
  private searchRoots(ev: SuperblockEvidence, keepTop: TopLevel | undefined, keepDet: DetailsTree | undefined): { top: TopLevel; det: DetailsTree } | undefined {
    if (!ev.sb || ev.nrDataBlocks === undefined) return undefined;
    // Older details could hold a stale snapshotted_time (unsafe): a lost
    // details tree is rebuilt, never taken from an older generation.
    if (keepTop && !keepDet) return undefined;
    const { tops, dets } = this.findCandidates();
    const allTops = keepTop ? [keepTop, ...tops.filter((t) => t.root !== keepTop.root)] : tops;
    const allDets = keepDet ? [keepDet, ...dets.filter((d) => d.root !== keepDet.root)] : dets;
    const lookup = new SpaceMapLookup(this.reader, ev.sb.dataSpaceMapRoot);
    if (lookup.problems.length > 0) return undefined;
    const scan = this.nodeScan();
    const counts = new Map<number, number>();
    for (const t of allTops) {
      for (const d of allDets) {
        if (this.mismatches(t, d) !== 0) continue;
        let exact = true;
        for (const [id, det] of d.details) if (this.subtreeCount(scan, t.ids.get(id)!, counts) !== det.mappedBlocks) exact = false;
        if (!exact || !this.matchesSpaceMap(t, ev.sb, lookup)) continue;
        this.note(`mapping root ${t.root} and details root ${d.root} account for the newest data space map exactly, block for block: using them`);
        return { top: t, det: d };
      }
    }
    return undefined;
  }

  /**
   * The top level lost but the details and the data space map intact: each
   * device's newest mapping root is still on disk, unreferenced, holding
   * exactly its mapped_blocks. Try the roots that fit each device; a
   * combination whose mappings account for the space map exactly, block
   * for block, is the lost top level.
   */
  private assembleTop(ev: SuperblockEvidence, det: DetailsTree): { top: TopLevel; det: DetailsTree } | undefined {
    if (!ev.sb || ev.nrDataBlocks === undefined || det.holes.length > 0) return undefined;
    const lookup = new SpaceMapLookup(this.reader, ev.sb.dataSpaceMapRoot);
    if (lookup.problems.length > 0) return undefined;
    const scan = this.nodeScan();
    const counts = new Map<number, number>();
    // Candidate roots: unreferenced mapping subtrees, and every root an older top level names.
    const roots = new Set<number>();
    for (let b = 0; b < this.n; b++) {
      if (scan.kind[b] === NodeKind.None || scan.referenced[b] || scan.valueSize[b] !== 8) continue;
      const { vs, leaf } = this.leafValueSize(scan, b);
      if (vs !== 8 || leaf < 0) continue;
      if (this.isTopLevelLeaf(scan, leaf)) {
        for (const r of this.readTop(b).ids.values()) roots.add(r);
      } else {
        roots.add(b);
      }
    }
    const ids = [...det.details.keys()];
    const options: number[][] = ids.map((id) => [...roots].filter((r) => this.subtreeCount(scan, r, counts) === det.details.get(id)!.mappedBlocks));
    let combos = 1;
    for (const o of options) combos *= o.length;
    if (combos === 0 || combos > 256) {
      this.note(`the lost top level cannot be reassembled: ${combos === 0 ? 'some device has no surviving root with its mapped_blocks' : `${combos} combinations of candidate roots are too many to try`}`);
      return undefined;
    }
    const pick = new Array<number>(ids.length).fill(0);
    for (let c = 0; c < combos; c++) {
      let x = c;
      for (let i = 0; i < ids.length; i++) {
        pick[i] = options[i]![x % options[i]!.length]!;
        x = Math.floor(x / options[i]!.length);
      }
      const top: TopLevel = { root: -1, ids: new Map(ids.map((id, i) => [id, pick[i]!])), holes: [] };
      if (this.matchesSpaceMap(top, ev.sb, lookup)) {
        this.note(
          `reassembled the lost top level from surviving roots (${ids.map((id, i) => `thin ${id}: block ${pick[i]}`).join(', ')}): ` +
            'their mappings account for the newest data space map exactly, block for block',
        );
        return { top, det };
      }
    }
    this.note(`the lost top level cannot be reassembled: none of ${combos} combinations of surviving roots accounts for the newest data space map`);
    return undefined;
  }

  /** Whether the mappings under `top` (and the held metadata snapshot) give exactly the space map's counts. */
  private matchesSpaceMap(top: TopLevel, sb: Superblock, lookup: SpaceMapLookup): boolean {
    const nr = lookup.root.nrBlocks;
    const implied = new RefCounts(nr);
    const seen = new Uint8Array(this.n);
    const check = mappingLeafCheck(nr);
    const walker = new SalvageWalker(this.reader, 8, check);
    let ok = true;
    for (const root of top.ids.values()) {
      walker.walk(
        root,
        (b, loc, n, max) => {
          if (seen[loc]) return;
          seen[loc] = 1;
          const vbase = valueOffset(max, 8, 0);
          for (let i = 0; i < n; i++) implied.inc(getU32(b, vbase + 8 * i + 4) * 256 + (getU32(b, vbase + 8 * i) >>> 24));
        },
        () => {
          ok = false;
        },
      );
      if (!ok) return false;
    }
    if (sb.heldRoot > 0 && !this.countSnapshotLeaves(sb.heldRoot, seen, implied, check, new Set())) return false;
    for (let b = 0; b < nr; b++) if (lookup.get(b) !== implied.get(b)) return false;
    return true;
  }

  /** Without a usable superblock: rank every consistent pair, newest first. */
  private bestGuess(): { top: TopLevel | undefined; det: DetailsTree | undefined } {
    const scan = this.nodeScan();
    const { tops, dets } = this.findCandidates();
    interface Pair {
      top: TopLevel;
      det: DetailsTree;
      exact: boolean;
      maxTid: number;
      newest: [number, number];
      mappings: number;
    }
    const pairs: Pair[] = [];
    const counts = new Map<number, number>();
    const times = new Map<number, [number, number]>();
    for (const t of tops) {
      for (const d of dets) {
        if (this.mismatches(t, d) !== 0) continue;
        let exact = true;
        let maxTid = -1;
        let mappings = 0;
        let newest: [number, number] = [-1, 0];
        for (const [id, det] of d.details) {
          const root = t.ids.get(id)!;
          const c = this.subtreeCount(scan, root, counts);
          if (c !== det.mappedBlocks) exact = false;
          mappings += Math.max(c, 0);
          maxTid = Math.max(maxTid, det.transactionId);
          newest = mergeNewest(newest, this.newestTime(scan, root, times));
        }
        pairs.push({ top: t, det: d, exact, maxTid, newest, mappings });
      }
    }
    // Writes carry the time of the last snapshot, so the generation with
    // the most mappings at the newest time is the one written last.
    pairs.sort(
      (a, b) =>
        Number(b.exact) - Number(a.exact) ||
        b.newest[0] - a.newest[0] ||
        b.newest[1] - a.newest[1] ||
        b.maxTid - a.maxTid ||
        b.mappings - a.mappings,
    );
    if (pairs.length > 0) {
      const p = pairs[0]!;
      this.note(
        `chose mapping root ${p.top.root} and details root ${p.det.root}: ${p.det.details.size} devices, ${p.mappings} mappings, ` +
          `${p.newest[1]} of them at the newest time ${p.newest[0]}` +
          (p.exact ? '; every device\'s mapped_blocks matches its tree' : ''),
      );
      const rivals = pairs.slice(1).filter((q) => q.exact && [...q.det.details.keys()].join() !== [...p.det.details.keys()].join());
      if (rivals.length > 0) {
        this.note(
          `other consistent generations with other devices exist (${rivals
            .slice(0, 5)
            .map((q) => `mapping ${q.top.root}/details ${q.det.root}: thin ids ${[...q.det.details.keys()].join(',')}`)
            .join('; ')}); to use one, repeat with --override-mapping-root and --override-details-root`,
        );
      }
      return { top: p.top, det: p.det };
    }
    // No details tree fits: keep the best top level and rebuild the details.
    const best = tops.sort((a, b) => b.ids.size - a.ids.size)[0];
    if (best) {
      this.note(`no device details tree fits any top level: using mapping root ${best.root} (${best.ids.size} devices) and rebuilding every device's details`);
      return { top: best, det: undefined };
    }
    throw new UsageError(
      'no compatible roots found: no usable top level of a mapping tree survives anywhere in the metadata' +
        (this.truncated ? ` (it is truncated: ${this.n} of the ${this.truncated} blocks the superblock names; is the whole device or file there?)` : ''),
    );
  }

  /** [newest mapping time, mappings at that time] under `root`, shared subtrees counted per reference. */
  private newestTime(scan: NodeScan, root: number, memo: Map<number, [number, number]>): [number, number] {
    const cached = memo.get(root);
    if (cached) return cached;
    let r: [number, number] = [-1, 0];
    memo.set(root, r); // a cycle adds nothing
    if (scan.isNode(root) && scan.valueSize[root] === 8) {
      const b = this.reader.read(root);
      const nr = getU32(b, 16);
      const max = getU32(b, 20);
      if (scan.kind[root] === NodeKind.Leaf) {
        const vbase = valueOffset(max, 8, 0);
        for (let i = 0; i < nr; i++) r = mergeNewest(r, [getU32(b, vbase + 8 * i) & TIME_MASK, 1]);
      } else {
        const children: number[] = [];
        for (let i = 0; i < nr; i++) children.push(u64ValueAt(b, max, i));
        for (const c of children) r = mergeNewest(r, this.newestTime(scan, c, memo));
      }
    }
    memo.set(root, r);
    return r;
  }

  /** A top-level tree whose values mostly point at usable mapping nodes. */
  private topLooksReal(top: TopLevel): boolean {
    if (top.ids.size === 0) return true;
    let ok = 0;
    const probe = new SalvageWalker(this.reader, 8);
    for (const r of top.ids.values()) if (probe.usable(r)) ok++;
    return ok * 2 > top.ids.size;
  }

  /** Value size of the leaves under `b` (following first children), or 0. */
  private leafValueSize(scan: NodeScan, b: number): { vs: number; leaf: number } {
    let at = b;
    for (let depth = 0; depth < 16; depth++) {
      if (!scan.isNode(at)) return { vs: 0, leaf: -1 };
      if (scan.kind[at] === NodeKind.Leaf) return { vs: scan.valueSize[at]!, leaf: at };
      if (scan.nrEntries[at] === 0) return { vs: 0, leaf: -1 };
      const blk = this.reader.read(at);
      at = u64ValueAt(blk, getU32(blk, 20), 0);
    }
    return { vs: 0, leaf: -1 };
  }

  /** Whether a leaf with 8-byte values is a top-level leaf (values are usable mapping roots). */
  private isTopLevelLeaf(scan: NodeScan, leaf: number): boolean {
    const b = this.reader.read(leaf);
    const nr = getU32(b, 16);
    const max = getU32(b, 20);
    if (nr === 0) return false;
    for (let i = 0; i < nr; i++) {
      const v = u64ValueAt(b, max, i);
      if (!(v < this.n) || !scan.isNode(v) || scan.valueSize[v] !== 8) return false;
    }
    return true;
  }

  /** Mappings under `root` (memoised per node; -1 when some node is unusable). */
  private subtreeCount(scan: NodeScan, root: number, memo: Map<number, number>): number {
    const cached = memo.get(root);
    if (cached !== undefined) return cached;
    let c: number;
    if (!scan.isNode(root) || scan.valueSize[root] !== 8) c = -1;
    else if (scan.kind[root] === NodeKind.Leaf) c = scan.nrEntries[root]!;
    else {
      const b = this.reader.read(root);
      const nr = getU32(b, 16);
      const max = getU32(b, 20);
      const children: number[] = [];
      for (let i = 0; i < nr; i++) children.push(u64ValueAt(b, max, i));
      memo.set(root, -1); // a cycle counts as unusable
      c = 0;
      for (const ch of children) {
        const x = this.subtreeCount(scan, ch, memo);
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

  private header(ev: SuperblockEvidence, det: DetailsTree | undefined, maxData: number, maxTime: number, devices: SalvagedDevice[]): DumpHeader {
    const o = this.options;
    // A metadata snapshot's copy of the superblock (found by the scan) keeps the block size.
    let copy: Superblock | undefined;
    if (ev.state === 'lost' || ev.dataBlockSize === undefined) {
      for (const loc of this.nodeScan().superblockCopies) {
        const sb = parseSuperblock(this.reader.read(loc));
        if (validBlockSize(sb.dataBlockSize) && (!copy || sb.transactionId > copy.transactionId)) copy = sb;
      }
    }
    const dataBlockSize = o.dataBlockSize ?? ev.dataBlockSize ?? copy?.dataBlockSize;
    if (dataBlockSize === undefined) {
      throw new UsageError(
        'the data block size is lost with the superblock and no copy of it survives: give --data-block-size SECTORS ' +
          '(the pool\'s chunk size: `lvs -o+chunk_size VG/POOL`, or the 4th argument of its `dmsetup table` line)',
      );
    }
    if (o.dataBlockSize === undefined && ev.dataBlockSize === undefined) this.note(`data block size ${dataBlockSize} sectors, from the metadata snapshot's copy of the superblock at block ${copy!.blocknr}`);
    if (!validBlockSize(dataBlockSize)) throw new UsageError(`data block size ${dataBlockSize} is not a multiple of 128 sectors between 128 and 2097152`);

    let detailsMaxTid = -1;
    let detailsMaxTime = 0;
    for (const d of det?.details.values() ?? []) {
      detailsMaxTid = Math.max(detailsMaxTid, d.transactionId);
      detailsMaxTime = Math.max(detailsMaxTime, d.creationTime, d.snapshottedTime);
    }
    let transaction = ev.transactionId ?? Math.max(detailsMaxTid + 1, copy?.transactionId ?? 0);
    if (ev.transactionId === undefined) this.note(`transaction id ${transaction}: one past the highest a device records${copy ? ' (or the metadata snapshot\'s)' : ''}`);
    if (o.transactionId !== undefined) transaction = Math.max(transaction, o.transactionId);

    let nrDataBlocks = ev.nrDataBlocks ?? maxData + 1;
    if (ev.nrDataBlocks === undefined) {
      this.note(`nr_data_blocks ${nrDataBlocks}: one past the highest data block mapped (the kernel grows it to the data device's size when the pool is loaded)`);
    }
    if (o.nrDataBlocks !== undefined) nrDataBlocks = Math.max(nrDataBlocks, o.nrDataBlocks);

    // Time must not be below any mapping's or device's: a later snapshot
    // would otherwise treat shared blocks as exclusive.
    let time = Math.max(ev.time ?? copy?.time ?? 0, maxTime, detailsMaxTime);
    const rebuilt = devices.filter((d) => d.detailsSource === 'rebuilt');
    if (rebuilt.length > 0) {
      time = Math.max(time, maxTime + 1);
      for (const d of rebuilt) {
        d.details = { mappedBlocks: 0, transactionId: Math.max(transaction - 1, 0), creationTime: time, snapshottedTime: time };
      }
      this.note(
        `rebuilt the details of thin device${rebuilt.length > 1 ? 's' : ''} ${rebuilt.map((d) => d.devId).join(', ')}: ` +
          `snapshotted at time ${time}, so that every existing block is treated as shared (copied on write, never overwritten)`,
      );
    }
    return {
      uuid: ev.sb ? uuidText(ev.sb.uuid) : '',
      time,
      transaction,
      flags: 0,
      version: ev.sb && (ev.sb.version === 1 || ev.sb.version === 2) ? ev.sb.version : 2,
      dataBlockSize,
      nrDataBlocks,
    };
  }

  /** Fills holes from older copies of lost leaves; see the file comment for the rules. */
  private recover(
    devices: SalvagedDevice[],
    live: Uint8Array,
    implied: RefCounts,
    sb: Superblock,
    leafCheck: (b: Uint8Array, loc: number, nr: number, max: number) => string | undefined,
    family: Families,
  ): void {
    const scan = this.nodeScan();
    const lookup = new SpaceMapLookup(this.reader, sb.dataSpaceMapRoot);
    for (const p of lookup.problems) this.note(`data space map: ${p}`);

    // Older mapping leaves, and older top levels that say whose they were.
    const orphans: number[] = [];
    const oldTops: number[] = [];
    for (let b = 0; b < this.n; b++) {
      if (scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8 || live[b] || scan.nrEntries[b] === 0) continue;
      if (this.isTopLevelLeaf(scan, b)) {
        oldTops.push(b);
        continue;
      }
      const blk = this.reader.read(b);
      if (leafCheck(blk, b, scan.nrEntries[b]!, getU32(blk, 20)) === undefined) orphans.push(b);
    }
    const owners = this.attribute(scan, oldTops, live);

    const damaged = devices.filter((d) => d.holes.length > 0);
    const candidates = new Map<number, Growing>();
    for (const dev of damaged) {
      const whole = dev.holes.some((h) => h.lo === 0 && h.hi === Infinity);
      const g = new Growing();
      for (const leaf of orphans) {
        const who = owners.get(leaf);
        // Unattributed leaves only fill a bounded range, never a whole lost device.
        if (!who && whole) continue;
        // A leaf that was another device's (not one sharing nodes with this
        // one now) can only hold what this device inherited when it was
        // created as a snapshot: mappings older than its creation time.
        const own = !who || [...who].some((o) => family.related(o, dev.devId));
        const before = own ? Infinity : dev.detailsSource === 'newest' ? dev.details.creationTime : 0;
        if (before === 0) continue;
        const lo = scan.firstKey[leaf]!;
        const hi = scan.lastKey[leaf]!;
        if (!dev.holes.some((h) => hi >= h.lo && lo < h.hi)) continue;
        const b = this.reader.read(leaf);
        const nr = getU32(b, 16);
        const max = getU32(b, 20);
        const vbase = valueOffset(max, 8, 0);
        for (let i = 0; i < nr; i++) {
          const k = keyAt(b, i);
          if (!inHoles(dev.holes, k)) continue;
          const low = getU32(b, vbase + 8 * i);
          if ((low & TIME_MASK) >= before) continue;
          g.push(k, getU32(b, vbase + 8 * i + 4) * 256 + (low >>> 24), low & TIME_MASK);
        }
      }
      candidates.set(dev.devId, g);
    }

    // Per device: one answer per virtual block, vouched for by the space map.
    const refused = this.stats.refused;
    const kept = new Map<number, Growing>();
    const claimV = new Map<number, number>(); // data block -> virtual block claimed
    const badData = new Set<number>();
    for (const dev of damaged) {
      const g = candidates.get(dev.devId)!;
      const order = sortedOrder(g);
      const out = new Growing();
      for (let i = 0; i < order.length; ) {
        const k = g.keys[order[i]!]!;
        let j = i;
        const d = g.data[order[i]!]!;
        let t = g.time[order[i]!]!;
        let agree = true;
        for (; j < order.length && g.keys[order[j]!] === k; j++) {
          const x = order[j]!;
          if (g.data[x] !== d) agree = false;
          t = Math.min(t, g.time[x]!); // the older time: treated as shared, copied on write
        }
        i = j;
        if (!agree) {
          refused.ambiguous++;
          continue;
        }
        const onDisk = lookup.get(d);
        if (onDisk === undefined) {
          refused.unknownCount++;
          continue;
        }
        if (onDisk - implied.get(d) <= 0) {
          refused.stale++;
          continue;
        }
        const prev = claimV.get(d);
        if (prev !== undefined && prev !== k) badData.add(d);
        claimV.set(d, k);
        out.push(k, d, t);
      }
      kept.set(dev.devId, out);
    }
    // No surviving mapping may put a claimed data block at another virtual block.
    if (claimV.size > 0) {
      for (let b = 0; b < this.n; b++) {
        if (!live[b] || scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8) continue;
        const blk = this.reader.read(b);
        const nr = getU32(blk, 16);
        const max = getU32(blk, 20);
        const vbase = valueOffset(max, 8, 0);
        for (let i = 0; i < nr; i++) {
          const low = getU32(blk, vbase + 8 * i);
          const d = getU32(blk, vbase + 8 * i + 4) * 256 + (low >>> 24);
          const v = claimV.get(d);
          if (v !== undefined && v !== keyAt(blk, i)) badData.add(d);
        }
      }
    }
    for (const dev of damaged) {
      const g = kept.get(dev.devId)!;
      const out = new Growing();
      for (let i = 0; i < g.length; i++) {
        if (badData.has(g.data[i]!)) refused.foreign++;
        else out.push(g.keys[i]!, g.data[i]!, g.time[i]!);
      }
      if (dev.detailsSource === 'newest') {
        const missing = dev.details.mappedBlocks - dev.intact;
        if (out.length > missing) {
          this.note(`thin device ${dev.devId}: older copies offer ${out.length} mappings for ${Math.max(missing, 0)} lost ones: some must be stale, so none are used`);
          refused.excess += out.length;
          continue;
        }
      }
      dev.recovered = { keys: out.keys, data: out.data, time: out.time, length: out.length };
      this.stats.recoveredMappings += out.length;
      if (out.length > 0) this.note(`thin device ${dev.devId}: ${out.length} mappings recovered from older copies of lost nodes`);
    }
    const r = refused;
    if (r.ambiguous + r.stale + r.foreign + r.unknownCount + r.excess > 0) {
      this.note(
        `older mappings refused: ${r.stale} whose data block the newest space map no longer gives them, ${r.ambiguous} where older copies disagree, ` +
          `${r.foreign} whose data block another mapping holds, ${r.unknownCount} where the space map is unreadable, ${r.excess} in excess of a device's count`,
      );
    }
  }

  /** Which thin ids each older leaf belonged to, from older top levels (leaves seen under none are absent). */
  private attribute(scan: NodeScan, oldTops: number[], live: Uint8Array): Map<number, Set<number>> {
    const owners = new Map<number, Set<number>>();
    const seen = new Map<number, Set<number>>();
    const visit = (b: number, id: number, depth: number): void => {
      // Newest nodes hold no older copies.
      if (depth > 16 || live[b] || !scan.isNode(b) || scan.valueSize[b] !== 8) return;
      let s = seen.get(b);
      if (!s) seen.set(b, (s = new Set()));
      if (s.has(id)) return;
      s.add(id);
      if (scan.kind[b] === NodeKind.Leaf) {
        owners.set(b, s);
        return;
      }
      const blk = this.reader.read(b);
      const nr = getU32(blk, 16);
      const max = getU32(blk, 20);
      const children: number[] = [];
      for (let i = 0; i < nr; i++) children.push(u64ValueAt(blk, max, i));
      for (const c of children) visit(c, id, depth + 1);
    };
    for (const t of oldTops) {
      const blk = this.reader.read(t);
      const nr = getU32(blk, 16);
      const max = getU32(blk, 20);
      const entries: Array<[number, number]> = [];
      for (let i = 0; i < nr; i++) entries.push([keyAt(blk, i), u64ValueAt(blk, max, i)]);
      for (const [id, r] of entries) visit(r, id, 0);
    }
    return owners;
  }
}

/** Union-find over thin ids. */
class Families {
  private readonly parent = new Map<number, number>();
  private find(a: number): number {
    let r = a;
    while (this.parent.has(r) && this.parent.get(r) !== r) r = this.parent.get(r)!;
    return r;
  }
  join(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
  related(a: number, b: number): boolean {
    return a === b || this.find(a) === this.find(b);
  }
}

function mergeNewest(a: [number, number], b: [number, number]): [number, number] {
  if (a[0] > b[0]) return a;
  if (b[0] > a[0]) return b;
  return [a[0], a[1] + b[1]];
}

/** Indices of g's entries sorted by key (stable). */
function sortedOrder(g: Growing): Uint32Array {
  const idx = new Uint32Array(g.length);
  for (let i = 0; i < g.length; i++) idx[i] = i;
  const keys = g.keys;
  return idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
}
