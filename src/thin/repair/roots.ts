/**
 * Finding the newest generation's trees: the superblock's roots when they
 * hold together; else the pair of trees that accounts for the superblock's
 * data space map exactly, block for block (whatever else is lost, that is
 * the generation the space map was committed with); a top level
 * reassembled from surviving roots by the same test; and, only without a
 * usable superblock, a ranking of every consistent pair.
 */
import { DEVICE_DETAILS_SIZE } from '../../format/device-details.js';
import { UsageError, must } from '../../errors.js';
import { SUPERBLOCK_MAGIC, type Superblock, parseSuperblock } from '../../format/superblock.js';
import { NodeKind, type NodeScan } from '../../pdata/btree/node-scan.js';
import { RefCounts } from '../../pdata/ref-counts.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { SpaceMapLookup } from '../../pdata/space-map/lookup.js';
import { type DetailsTree, SalvageContext, type TopLevel, countLeafData, mappingLeafCheck } from './context.js';
import type { SuperblockEvidence } from './superblock-evidence.js';
import { type GenerationDevice, newestGeneration } from './generation-order.js';

interface RankedPair {
  top: TopLevel;
  det: DetailsTree;
  /** Every device's mapped_blocks matches its tree. */
  exact: boolean;
  maxTid: bigint;
  /** Newest mapping time and how many mappings carry it. */
  newest: [number, number];
  mappings: number;
}

export class RootFinder {
  private candidates: { tops: TopLevel[]; dets: DetailsTree[] } | undefined;
  /** Generations nothing orders against the one taken (it is the widest of them). */
  private unordered: RankedPair[] = [];

  constructor(private readonly ctx: SalvageContext) {}

  /** Picks the (top level, details) pair of the newest generation. */
  chooseRoots(ev: SuperblockEvidence): { top: TopLevel | undefined; det: DetailsTree | undefined } {
    const o = this.ctx.options;
    const wantM = o.mappingRoot ?? ev.sb?.mappingRoot;
    const wantD = o.detailsRoot ?? ev.sb?.detailsRoot;
    let top = wantM !== undefined && wantM < this.ctx.n ? this.ctx.readTop(wantM) : undefined;
    let det = wantD !== undefined && wantD < this.ctx.n ? this.ctx.readDetails(wantD) : undefined;
    if (top && SalvageContext.wholeLoss(top.holes)) top = undefined;
    if (det && SalvageContext.wholeLoss(det.holes)) det = undefined;
    if (top && !this.ctx.topLooksReal(top, ev.state === 'valid' && o.mappingRoot === undefined)) top = undefined;
    const given = o.mappingRoot !== undefined || o.detailsRoot !== undefined;
    if (top && det && this.ctx.mismatches(top, det) === 0) {
      if (given) this.ctx.note(`using the roots given: mapping ${top.root}, details ${det.root}`);
      else if (ev.state !== 'valid')
        this.ctx.note(`the superblock's roots (mapping ${top.root}, details ${det.root}) are consistent with each other: using them`);
      return { top, det };
    }
    if (given && top && det) {
      throw new UsageError(`the given roots do not belong together: mapping root ${top.root} and details root ${det.root} list different thin devices`);
    }
    if (ev.sb) {
      const why = !top
        ? `mapping root ${wantM} is not a usable top-level tree`
        : !det
          ? `details root ${wantD} is not a usable device details tree`
          : 'its mapping and details trees list different thin devices';
      this.ctx.note(`the superblock's roots are stale or damaged (${why}): looking among all nodes for trees that fit`);
    }
    const found = this.searchRoots(ev, top, det) ?? (det && !top ? this.assembleTop(ev, det) : undefined);
    if (found) return found;
    // A valid superblock names the newest generation even where its trees
    // are lost: keep what survives of it and let the rest be holes, rather
    // than fall back to an older generation's stale mappings.
    if (ev.state === 'valid' && (top || det)) {
      if (!top)
        this.ctx.note("no surviving top level fits the newest space map: each device's mappings are recovered from older copies only where vouched for");
      if (!det) this.ctx.note('no surviving device details tree fits: the details are rebuilt');
      return { top, det };
    }
    if (ev.state === 'valid') this.refuseOlderGeneration(must(ev.sb, 'the superblock of valid evidence'));
    return this.bestGuess();
  }

  /**
   * The superblock is valid, so its trees are the newest, and both are
   * lost with nothing left to vouch for an older generation: any older one
   * would hand back stale mappings and deleted devices. Say what survives
   * and let the admin choose one knowingly.
   */
  private refuseOlderGeneration(sb: Superblock): never {
    const pairs = this.rankedPairs();
    // The held metadata snapshot is the one older generation someone chose to keep: name it.
    let snap: { m: number; d: number } | undefined;
    const held = sb.heldRoot;
    if (held > 0 && held < this.ctx.n) {
      const copy = parseSuperblock(this.ctx.reader.read(held));
      if (copy.magic === SUPERBLOCK_MAGIC && copy.blocknr === held) snap = { m: copy.mappingRoot, d: copy.detailsRoot };
    }
    const list = pairs
      .slice(0, 5)
      .map(
        (p) =>
          `--override-mapping-root ${p.top.root} --override-details-root ${p.det.root} (thin ids ${[...p.det.details.keys()].join(',') || 'none'}` +
          `${snap && snap.m === p.top.root && snap.d === p.det.root ? `; the held metadata snapshot at block ${held}` : ''})`,
      )
      .join('; ');
    const truncated = this.ctx.truncated
      ? `; the metadata is truncated (${this.ctx.n} of the ${this.ctx.truncated} blocks the superblock names: is the whole device or file there?)`
      : '';
    throw new UsageError(
      `no compatible roots found: the superblock's trees (mapping root ${sb.mappingRoot}, details root ${sb.detailsRoot}) are lost${truncated}, ` +
        'and no surviving pair of trees accounts for its data space map. ' +
        (pairs.length > 0
          ? `Older generations survive, newest first: ${list}. Repeat with one of these to rebuild from it; whatever was written after it is lost, and mappings it changed come back stale.`
          : 'No older generation survives either.'),
    );
  }

  /** Every unreferenced usable top level and details tree the scan finds. */
  private findCandidates(): { tops: TopLevel[]; dets: DetailsTree[] } {
    if (this.candidates) return this.candidates;
    const scan = this.ctx.nodeScan();
    const tops: TopLevel[] = [];
    const dets: DetailsTree[] = [];
    for (let b = 0; b < this.ctx.n; b++) {
      if (scan.kind[b] === NodeKind.None || scan.referenced[b]) continue;
      const { vs, leaf } = this.ctx.leafValueSize(scan, b);
      if (vs === DEVICE_DETAILS_SIZE) {
        const d = this.ctx.readDetails(b);
        if (d.holes.length === 0) dets.push(d);
      } else if (vs === 8 && leaf >= 0 && this.ctx.isTopLevelLeaf(scan, leaf)) {
        const t = this.ctx.readTop(b);
        if (t.holes.length === 0) tops.push(t);
      }
    }
    // An empty details tree pairs with an empty top level: find one for it.
    if (dets.some((d) => d.details.size === 0) && !tops.some((t) => t.ids.size === 0)) {
      for (let b = 0; b < this.ctx.n; b++) {
        if (scan.kind[b] === NodeKind.Leaf && scan.valueSize[b] === 8 && scan.nrEntries[b] === 0 && !scan.referenced[b]) {
          tops.push({ root: b, ids: new Map(), holes: [] });
          break;
        }
      }
    }
    this.ctx.note(`root candidates: ${tops.length} top-level trees, ${dets.length} device details trees`);
    return (this.candidates = { tops, dets });
  }

  /**
   * With the superblock's data space map to hand: the pair of trees whose
   * mappings account for exactly its counts, block for block. That is the
   * generation the space map was committed with, whatever else is lost.
   */
  private searchRoots(
    ev: SuperblockEvidence,
    keepTop: TopLevel | undefined,
    keepDet: DetailsTree | undefined,
  ): { top: TopLevel; det: DetailsTree } | undefined {
    if (!ev.sb || ev.nrDataBlocks === undefined) return undefined;
    // Older details could hold a stale snapshotted_time (unsafe): a lost
    // details tree is rebuilt, never taken from an older generation.
    if (keepTop && !keepDet) return undefined;
    const { tops, dets } = this.findCandidates();
    const allTops = keepTop ? [keepTop, ...tops.filter((t) => t.root !== keepTop.root)] : tops;
    const allDets = keepDet ? [keepDet, ...dets.filter((d) => d.root !== keepDet.root)] : dets;
    const lookup = new SpaceMapLookup(this.ctx.reader, ev.sb.dataSpaceMapRoot);
    if (lookup.problems.length > 0) return undefined;
    const scan = this.ctx.nodeScan();
    const counts = new Map<number, number>();
    for (const t of allTops) {
      for (const d of allDets) {
        if (this.ctx.mismatches(t, d) !== 0) continue;
        let exact = true;
        for (const [id, det] of d.details) {
          // An id in the top level's holes has no root: its mappings are not accounted for.
          const root = t.ids.get(id);
          if (root === undefined || this.ctx.subtreeCount(scan, root, counts) !== det.mappedBlocks) exact = false;
        }
        if (!exact || !this.matchesSpaceMap(t, ev.sb, lookup)) continue;
        this.ctx.note(`mapping root ${t.root} and details root ${d.root} account for the newest data space map exactly, block for block: using them`);
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
    const lookup = new SpaceMapLookup(this.ctx.reader, ev.sb.dataSpaceMapRoot);
    if (lookup.problems.length > 0) return undefined;
    const scan = this.ctx.nodeScan();
    const counts = new Map<number, number>();
    // Candidate roots: unreferenced mapping subtrees, and every root an older top level names.
    const roots = new Set<number>();
    for (let b = 0; b < this.ctx.n; b++) {
      if (scan.kind[b] === NodeKind.None || scan.referenced[b] || scan.valueSize[b] !== 8) continue;
      const { vs, leaf } = this.ctx.leafValueSize(scan, b);
      if (vs !== 8 || leaf < 0) continue;
      if (this.ctx.isTopLevelLeaf(scan, leaf)) {
        for (const r of this.ctx.readTop(b).ids.values()) roots.add(r);
      } else {
        roots.add(b);
      }
    }
    const ids = [...det.details.keys()];
    const options: number[][] = [...det.details.values()].map((dd) => [...roots].filter((r) => this.ctx.subtreeCount(scan, r, counts) === dd.mappedBlocks));
    let combos = 1;
    for (const o of options) combos *= o.length;
    if (combos === 0 || combos > 256) {
      this.ctx.note(
        `the lost top level cannot be reassembled: ${combos === 0 ? 'some device has no surviving root with its mapped_blocks' : `${combos} combinations of candidate roots are too many to try`}`,
      );
      return undefined;
    }
    // Every combination that fits, not the first: devices with equal
    // mapped_blocks can swap roots and still account for the space map.
    const fits: number[][] = [];
    for (let c = 0; c < combos; c++) {
      const pick = new Array<number>(ids.length);
      let x = c;
      for (let i = 0; i < ids.length; i++) {
        pick[i] = options[i][x % options[i].length];
        x = Math.floor(x / options[i].length);
      }
      if (new Set(pick).size !== pick.length) continue; // two devices never share a root
      const top: TopLevel = { root: -1, ids: new Map(ids.map((id, i) => [id, pick[i]])), holes: [] };
      if (this.matchesSpaceMap(top, ev.sb, lookup)) fits.push(pick);
    }
    if (fits.length === 0) {
      this.ctx.note(`the lost top level cannot be reassembled: none of ${combos} combinations of surviving roots accounts for the newest data space map`);
      return undefined;
    }
    // A device whose root differs between fitting combinations cannot be told
    // from another: it is left lost (its lost range may still be filled from
    // vouched-for older copies) rather than given another device's mappings.
    const sure = new Map<number, number>();
    const unsure: string[] = [];
    ids.forEach((id, i) => {
      const roots = new Set(fits.map((f) => f[i]));
      if (roots.size === 1) sure.set(id, fits[0][i]);
      else unsure.push(`thin ${id} (blocks ${[...roots].join(', ')})`);
    });
    this.ctx.note(
      `reassembled the lost top level from surviving roots (${[...sure].map(([id, r]) => `thin ${id}: block ${r}`).join(', ') || 'none'}): ` +
        'their mappings account for the newest data space map exactly, block for block' +
        (unsure.length ? `; left lost, because their roots fit interchangeably: ${unsure.join(', ')}` : ''),
    );
    const top: TopLevel = { root: -1, ids: sure, holes: [] };
    if (unsure.length) {
      // The ids left out are lost ranges of the top level.
      for (const id of ids.filter((x) => !sure.has(x))) top.holes.push({ lo: id, hi: id + 1, block: -1, why: "its root cannot be told from another device's" });
    }
    return { top, det };
  }

  /** Whether the mappings under `top` (and the held metadata snapshot) give exactly the space map's counts. */
  private matchesSpaceMap(top: TopLevel, sb: Superblock, lookup: SpaceMapLookup): boolean {
    const nr = lookup.root.nrBlocks;
    const implied = new RefCounts(nr);
    const seen = new Uint8Array(this.ctx.n);
    const check = mappingLeafCheck(nr);
    const walker = new BTreeTraversal(this.ctx.reader, { leafCheck: check, remember: true });
    let ok = true;
    for (const [devId, root] of top.ids) {
      walker.walk(root, {
        valueSize: 8,
        tree: { kind: 'mappings', devId },
        onLeaf: (node) => {
          if (seen[node.location]) return;
          seen[node.location] = 1;
          countLeafData(node, implied);
        },
        onProblem: () => {
          ok = false;
        },
      });
      if (!ok) return false;
    }
    if (sb.heldRoot > 0 && !this.ctx.countSnapshotLeaves(sb.heldRoot, seen, implied, check, new Set())) return false;
    for (let b = 0; b < nr; b++) if (lookup.get(b) !== implied.get(b)) return false;
    return true;
  }

  /** Every consistent pair of surviving trees, newest first. */
  private rankedPairs(): RankedPair[] {
    const scan = this.ctx.nodeScan();
    const { tops, dets } = this.findCandidates();
    const pairs: RankedPair[] = [];
    const counts = new Map<number, number>();
    const times = new Map<number, [number, number]>();
    for (const t of tops) {
      for (const d of dets) {
        if (this.ctx.mismatches(t, d) !== 0) continue;
        let exact = true;
        let maxTid = -1n;
        let mappings = 0;
        let newest: [number, number] = [-1, 0];
        for (const [id, det] of d.details) {
          // An id in the top level's holes has no root: it counts as an unusable one.
          const root = t.ids.get(id);
          const c = root === undefined ? -1 : this.ctx.subtreeCount(scan, root, counts);
          if (c !== det.mappedBlocks) exact = false;
          mappings += Math.max(c, 0);
          if (det.transactionId > maxTid) maxTid = det.transactionId;
          if (root !== undefined) newest = mergeNewest(newest, this.newestTime(scan, root, times));
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
        Number(b.maxTid > a.maxTid) - Number(b.maxTid < a.maxTid) ||
        b.mappings - a.mappings,
    );
    return pairs;
  }

  /**
   * Without a usable superblock: the newest consistent pair, or a top level
   * alone. A pair is newer than another only where the trees say so: a
   * device both list has, in one, a higher transaction id in its details or
   * a newer tree (a newer mapping time, or more mappings at it). Pairs that
   * list the same trees for the devices they share differ only by devices
   * created or deleted, which nothing on disk orders: the one listing every
   * such device is taken (a deleted device comes back, and nothing is lost);
   * where none lists them all, or the trees contradict each other, nothing
   * is chosen: the admin picks with the override roots, knowing which
   * devices the pool should have.
   */
  private bestGuess(): { top: TopLevel | undefined; det: DetailsTree | undefined } {
    const pairs = this.rankedPairs();
    const { tops } = this.findCandidates();
    if (pairs.length > 0) {
      const p = this.newestPair(pairs);
      this.ctx.note(
        `chose mapping root ${p.top.root} and details root ${p.det.root}: ${p.det.details.size} devices, ${p.mappings} mappings, ` +
          `${p.newest[1]} of them at the newest time ${p.newest[0]}` +
          (p.exact ? "; every device's mapped_blocks matches its tree" : ''),
      );
      // One line per other device list (the same list often survives in several copies); an empty pool's is its first state.
      const seen = new Set([[...p.det.details.keys()].join()]);
      const rivals = pairs.filter((q) => {
        const ids = [...q.det.details.keys()].join();
        if (!q.exact || q.det.details.size === 0 || seen.has(ids)) return false;
        seen.add(ids);
        return true;
      });
      if (rivals.length > 0) {
        this.ctx.note(
          `other consistent generations with other devices exist (${rivals
            .slice(0, 5)
            .map((q) => `mapping ${q.top.root}/details ${q.det.root}: thin ids ${[...q.det.details.keys()].join(',')}`)
            .join('; ')}${rivals.length > 5 ? `; ${rivals.length - 5} more` : ''})` +
            (this.unordered.some((q) => q.det.details.size > 0)
              ? `; of these, thin ids ${[...new Set(this.unordered.filter((q) => q.det.details.size > 0).map((q) => [...q.det.details.keys()].join(',')))].join(' and thin ids ')} ` +
                'list the same trees as the one chosen for the devices they share, so they differ only by devices created or deleted, which nothing on disk orders: ' +
                'the one chosen lists every such device, so none is dropped and a device deleted after the last write comes back (delete it again)'
              : '') +
            '; to use one, repeat with --override-mapping-root and --override-details-root',
        );
      }
      return { top: p.top, det: p.det };
    }
    // No details tree fits: keep the best top level and rebuild the details.
    const best = tops.sort((a, b) => b.ids.size - a.ids.size)[0];
    if (best) {
      this.ctx.note(
        `no device details tree fits any top level: using mapping root ${best.root} (${best.ids.size} devices) and rebuilding every device's details`,
      );
      return { top: best, det: undefined };
    }
    throw new UsageError(
      'no compatible roots found: no usable top level of a mapping tree survives anywhere in the metadata' +
        (this.ctx.truncated
          ? ` (it is truncated: ${this.ctx.n} of the ${this.ctx.truncated} blocks the superblock names; is the whole device or file there?)`
          : ''),
    );
  }

  /** The pair no other consistent pair is newer than (generation-order.ts); refuses when that is not one pair. */
  private newestPair(pairs: RankedPair[]): RankedPair {
    const exact = pairs.filter((q) => q.exact);
    if (exact.length < 2) return pairs[0];
    const scan = this.ctx.nodeScan();
    const memo = new Map<number, [number, number]>();
    const gens = exact.map((q) => {
      const devices = new Map<number, GenerationDevice>();
      for (const [id, d] of q.det.details) {
        const root = q.top.ids.get(id);
        if (root !== undefined) devices.set(id, { root, transactionId: d.transactionId, newest: this.newestTime(scan, root, memo) });
      }
      return { pair: q, devices };
    });
    const r = newestGeneration(gens);
    if (!r) return pairs[0];
    const ids = (q: RankedPair): string => [...q.det.details.keys()].join(',');
    const describe = (q: RankedPair): string =>
      `mapping root ${q.top.root} with details root ${q.det.root} (thin ids ${ids(q)}; ${q.mappings} mappings, newest time ${q.newest[0]})`;
    const choices = (list: RankedPair[]): string =>
      list
        .slice(0, 5)
        .map((q) => `--override-mapping-root ${q.top.root} --override-details-root ${q.det.root} for thin ids ${ids(q)}`)
        .join('; ');
    if (r.kind === 'contradictory') {
      const [a, b] = r.between;
      throw new UsageError(
        `without a superblock, the newest generation cannot be told: ${describe(a.pair)} and ${describe(b.pair)} each hold the newer tree of some device they both list. ` +
          `Nothing is chosen; repeat with the roots of the one to rebuild (${choices(r.newest.map((g) => g.pair))}); dmthin ls --deleted lists what each holds`,
      );
    }
    if (r.kind === 'no-widest') {
      throw new UsageError(
        `without a superblock, the newest generation cannot be told: ${r.newest.map((g) => describe(g.pair)).join(' and ')} list the same trees for the devices they share ` +
          `and none lists every device (devices were created and deleted). Nothing is chosen; repeat with the roots of the one the pool should have (${choices(r.newest.map((g) => g.pair))})`,
      );
    }
    this.unordered = r.unordered.map((g) => g.pair);
    return r.chosen.pair;
  }

  /** [newest mapping time, mappings at that time] under `root`, shared subtrees counted per reference. */
  private newestTime(scan: NodeScan, root: number, memo: Map<number, [number, number]>): [number, number] {
    const cached = memo.get(root);
    if (cached) return cached;
    let r: [number, number] = [-1, 0];
    memo.set(root, r); // a cycle adds nothing
    if (scan.isNode(root) && scan.valueSize[root] === 8) {
      const node = this.ctx.node(root);
      if (scan.kind[root] === NodeKind.Leaf) {
        for (let i = 0; i < node.nrEntries; i++) r = mergeNewest(r, [node.time(i), 1]);
      } else {
        for (let i = 0; i < node.nrEntries; i++) r = mergeNewest(r, this.newestTime(scan, node.u64(i), memo));
      }
    }
    memo.set(root, r);
    return r;
  }
}

function mergeNewest(a: [number, number], b: [number, number]): [number, number] {
  if (a[0] > b[0]) return a;
  if (b[0] > a[0]) return b;
  return [a[0], a[1] + b[1]];
}
