/**
 * Filling lost ranges from older copies of lost leaves, only where the
 * newest generation vouches for each mapping (see salvage.ts for the
 * rules). Older top levels tell whose an older leaf was; the newest data
 * space map and the surviving mappings say which older mappings can still
 * be true.
 */
import { must } from '../../errors.js';
import type { Superblock } from '../../format/superblock.js';
import { isWholeRange } from '../../pdata/btree/problem.js';
import { MAX_DEPTH, type LeafCheck } from '../../pdata/btree/traversal.js';
import { NodeKind, type NodeScan } from '../../pdata/btree/node-scan.js';
import type { RefCounts } from '../../pdata/ref-counts.js';
import { SpaceMapLookup } from '../../pdata/space-map/lookup.js';
import { MappingList } from '../mapping-list.js';
import type { Hole, SalvageContext, SalvagedDevice } from './context.js';

const KEPT = "a damaged device's kept mappings";
/** Every candidate came from a lost node's key range: its hole. */
const HOLE = 'the hole a candidate came from';

export class OlderCopies {
  constructor(private readonly ctx: SalvageContext) {}

  /** Fills holes from older copies of lost leaves; see salvage.ts for the rules. */
  recover(
    devices: SalvagedDevice[],
    live: Uint8Array,
    implied: RefCounts,
    sb: Superblock,
    leafCheck: LeafCheck,
    sharers: ReadonlyMap<number, ReadonlySet<number>>,
  ): void {
    const scan = this.ctx.nodeScan();
    const lookup = new SpaceMapLookup(this.ctx.reader, sb.dataSpaceMapRoot);
    for (const p of lookup.problems) this.ctx.note(`data space map: ${p}`);

    // Older mapping leaves, and older top levels that say whose they were.
    const orphans: number[] = [];
    const oldTops: number[] = [];
    for (let b = 0; b < this.ctx.n; b++) {
      if (scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8 || live[b] || scan.nrEntries[b] === 0) continue;
      if (this.ctx.isTopLevelLeaf(scan, b)) {
        oldTops.push(b);
        continue;
      }
      if (leafCheck(this.ctx.node(b)) === undefined) orphans.push(b);
    }
    const owners = this.attribute(scan, oldTops, live);

    const damaged = devices.filter((d) => d.holes.length > 0);
    const candidates = new Map<number, MappingList>();
    for (const dev of damaged) {
      const whole = dev.holes.some(isWholeRange);
      const g = new MappingList();
      for (const leaf of orphans) {
        const who = owners.get(leaf);
        // Unattributed leaves only fill a bounded range, never a whole lost device.
        if (!who && whole) continue;
        const lo = scan.firstKey[leaf];
        const hi = scan.lastKey[leaf];
        if (!dev.holes.some((h) => hi >= h.lo && lo < h.hi)) continue;
        // An unattributed leaf that another damaged device could have lost too
        // (its own lost range covers the leaf's keys) is evidence for neither.
        if (!who && damaged.some((o) => o !== dev && o.holes.some((h) => hi >= h.lo && lo < h.hi))) continue;
        const node = this.ctx.node(leaf);
        for (let i = 0; i < node.nrEntries; i++) {
          const k = node.key(i);
          const hole = holeAt(dev.holes, k);
          if (!hole) continue;
          // The leaf was this device's, or a device's that shared the very
          // node now lost: every mapping in it may be this device's. Any
          // other device's leaf (a snapshot relative's included) only gives
          // what this device inherited when it was created as a snapshot:
          // mappings older than its creation time.
          const own = !who || who.has(dev.devId) || intersects(who, sharers.get(hole.block));
          const before = own ? Infinity : dev.detailsSource === 'newest' ? dev.details.creationTime : 0;
          const t = node.time(i);
          if (t >= before) continue;
          g.push(k, node.dataBlock(i), t);
        }
      }
      candidates.set(dev.devId, g);
    }

    // Per device: one answer per virtual block, vouched for by the space map.
    const refused = this.ctx.stats.refused;
    const kept = new Map<number, MappingList>();
    for (const dev of damaged) {
      const g = must(candidates.get(dev.devId), "a damaged device's candidates");
      const order = g.sortedOrder();
      const out = new MappingList();
      for (let i = 0; i < order.length; ) {
        const k = g.keys[order[i]];
        let j = i;
        const d = g.data[order[i]];
        let t = g.time[order[i]];
        let agree = true;
        for (; j < order.length && g.keys[order[j]] === k; j++) {
          const x = order[j];
          if (g.data[x] !== d) agree = false;
          t = Math.min(t, g.time[x]); // the older time: treated as shared, copied on write
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
        out.push(k, d, t);
      }
      kept.set(dev.devId, out);
    }

    // Across devices: every claim on a data block must fit together. A data
    // block is mapped at one virtual block, with one time (a snapshot shares
    // the entry, time included; a new write gets a new block), and by no
    // more mappings than the space map counts beyond the surviving ones.
    // Claims that do not fit are all refused: the evidence cannot say
    // which of them is the true one.
    // A claim counts once per lost node: devices that shared the node claim the same reference.
    const claims = new Map<number, { v: number; t: number; nodes: Set<number>; bad: 'foreign' | 'otherTime' | undefined }>();
    for (const dev of damaged) {
      const g = must(kept.get(dev.devId), KEPT);
      for (let i = 0; i < g.length; i++) {
        const d = g.data[i];
        const node = must(holeAt(dev.holes, g.keys[i]), HOLE).block;
        const c = claims.get(d);
        if (!c) claims.set(d, { v: g.keys[i], t: g.time[i], nodes: new Set([node]), bad: undefined });
        else {
          c.nodes.add(node);
          if (c.v !== g.keys[i]) c.bad = 'foreign';
          else if (c.t !== g.time[i] && !c.bad) c.bad = 'otherTime';
        }
      }
    }
    // A damaged device whose lost mappings its own claims do not all explain
    // may hold any data block the space map counts beyond the survivors: no
    // other device's claim can then be told from a stale copy of a block it
    // still holds (a snapshot's origin's older leaf, when the snapshot's own
    // tree is lost). Only devices that shared the very lost node are exempt.
    const unexplained = damaged.filter((dev) => {
      const lost = dev.detailsSource === 'newest' ? Math.max(dev.details.mappedBlocks - dev.intact, 0) : Infinity;
      return lost > must(kept.get(dev.devId), KEPT).length;
    });
    const contested = (dev: SalvagedDevice, k: number): boolean => {
      const sharing = sharers.get(must(holeAt(dev.holes, k), HOLE).block);
      return unexplained.some((o) => o !== dev && !sharing?.has(o.devId));
    };
    if (claims.size > 0) {
      for (let b = 0; b < this.ctx.n; b++) {
        if (!live[b] || scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8) continue;
        const node = this.ctx.node(b);
        for (let i = 0; i < node.nrEntries; i++) {
          const c = claims.get(node.dataBlock(i));
          if (!c) continue;
          if (c.v !== node.key(i)) c.bad = 'foreign';
          else if (c.t !== node.time(i) && !c.bad) c.bad = 'otherTime';
        }
      }
    }
    for (const dev of damaged) {
      const g = must(kept.get(dev.devId), KEPT);
      const out = new MappingList();
      for (let i = 0; i < g.length; i++) {
        const d = g.data[i];
        const c = must(claims.get(d), 'the claim on a kept block');
        const over = implied.get(d) + c.nodes.size > must(lookup.get(d), 'the count of a kept block');
        if (c.bad === 'foreign') refused.foreign++;
        else if (c.bad === 'otherTime') refused.otherTime++;
        else if (over) refused.overclaimed++;
        else if (contested(dev, g.keys[i])) refused.contested++;
        else out.push(g.keys[i], g.data[i], g.time[i]);
      }
      if (dev.detailsSource === 'newest') {
        const missing = dev.details.mappedBlocks - dev.intact;
        if (out.length > missing) {
          this.ctx.note(
            `thin device ${dev.devId}: older copies offer ${out.length} mappings for ${Math.max(missing, 0)} lost ones: some must be stale, so none are used`,
          );
          refused.excess += out.length;
          continue;
        }
      }
      dev.recovered = out;
      this.ctx.stats.recoveredMappings += out.length;
      if (out.length > 0) this.ctx.note(`thin device ${dev.devId}: ${out.length} mappings recovered from older copies of lost nodes`);
    }
    const r = refused;
    if (r.ambiguous + r.stale + r.foreign + r.unknownCount + r.excess + r.overclaimed + r.otherTime + r.contested > 0) {
      this.ctx.note(
        `older mappings refused: ${r.stale} whose data block the newest space map no longer gives them, ${r.ambiguous} where older copies disagree, ` +
          `${r.foreign} whose data block another mapping holds at another virtual block, ${r.otherTime} whose data block another mapping holds with another time, ` +
          `${r.overclaimed} claimed by more devices than the space map counts, ${r.contested} another damaged device may hold, ` +
          `${r.unknownCount} where the space map is unreadable, ${r.excess} in excess of a device's count`,
      );
    }
  }
  /** Which thin ids each older leaf belonged to, from older top levels (leaves seen under none are absent). */
  private attribute(scan: NodeScan, oldTops: number[], live: Uint8Array): Map<number, Set<number>> {
    const owners = new Map<number, Set<number>>();
    const seen = new Map<number, Set<number>>();
    const visit = (b: number, id: number, depth: number): void => {
      // Newest nodes hold no older copies.
      if (depth > MAX_DEPTH || live[b] || !scan.isNode(b) || scan.valueSize[b] !== 8) return;
      let s = seen.get(b);
      if (!s) seen.set(b, (s = new Set()));
      if (s.has(id)) return;
      s.add(id);
      if (scan.kind[b] === NodeKind.Leaf) {
        owners.set(b, s);
        return;
      }
      const node = this.ctx.node(b);
      for (let i = 0; i < node.nrEntries; i++) visit(node.u64(i), id, depth + 1);
    };
    for (const t of oldTops) {
      const node = this.ctx.node(t);
      for (let i = 0; i < node.nrEntries; i++) visit(node.u64(i), node.key(i), 0);
    }
    return owners;
  }
}

function holeAt(holes: readonly Hole[], k: number): Hole | undefined {
  for (const h of holes) if (k >= h.lo && k < h.hi) return h;
  return undefined;
}

function intersects(a: ReadonlySet<number>, b: ReadonlySet<number> | undefined): boolean {
  if (!b) return false;
  for (const x of a) if (b.has(x)) return true;
  return false;
}
