/**
 * Filling lost ranges from older copies of lost leaves, only where the
 * newest generation vouches for each mapping (see salvage.ts for the
 * rules). Older top levels tell whose an older leaf was.
 */
import { blockOf, timeOf } from '../../format/block-time.js';
import { keyAt, u64ValueAt, valueOffset } from '../../format/btree-node.js';
import { getU32 } from '../../format/le.js';
import type { Superblock } from '../../format/superblock.js';
import { NodeKind, type NodeScan } from '../../pdata/node-scan.js';
import type { RefCounts } from '../../pdata/ref-counts.js';
import type { LeafCheck } from '../../pdata/salvage-walk.js';
import { SpaceMapLookup } from '../../pdata/space-map-lookup.js';
import { Growing, type SalvageContext, type SalvagedDevice, inHoles } from './context.js';

export class OlderCopies {
  constructor(private readonly ctx: SalvageContext) {}

  /** Fills holes from older copies of lost leaves; see the file comment for the rules. */
  recover(
    devices: SalvagedDevice[],
    live: Uint8Array,
    implied: RefCounts,
    sb: Superblock,
    leafCheck: LeafCheck,
    family: Families,
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
      const blk = this.ctx.reader.read(b);
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
        const b = this.ctx.reader.read(leaf);
        const nr = getU32(b, 16);
        const max = getU32(b, 20);
        const vbase = valueOffset(max, 8, 0);
        for (let i = 0; i < nr; i++) {
          const k = keyAt(b, i);
          if (!inHoles(dev.holes, k)) continue;
          const t = timeOf(b, vbase + 8 * i);
          if (t >= before) continue;
          g.push(k, blockOf(b, vbase + 8 * i), t);
        }
      }
      candidates.set(dev.devId, g);
    }

    // Per device: one answer per virtual block, vouched for by the space map.
    const refused = this.ctx.stats.refused;
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
      for (let b = 0; b < this.ctx.n; b++) {
        if (!live[b] || scan.kind[b] !== NodeKind.Leaf || scan.valueSize[b] !== 8) continue;
        const blk = this.ctx.reader.read(b);
        const nr = getU32(blk, 16);
        const max = getU32(blk, 20);
        const vbase = valueOffset(max, 8, 0);
        for (let i = 0; i < nr; i++) {
          const d = blockOf(blk, vbase + 8 * i);
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
          this.ctx.note(`thin device ${dev.devId}: older copies offer ${out.length} mappings for ${Math.max(missing, 0)} lost ones: some must be stale, so none are used`);
          refused.excess += out.length;
          continue;
        }
      }
      dev.recovered = { keys: out.keys, data: out.data, time: out.time, length: out.length };
      this.ctx.stats.recoveredMappings += out.length;
      if (out.length > 0) this.ctx.note(`thin device ${dev.devId}: ${out.length} mappings recovered from older copies of lost nodes`);
    }
    const r = refused;
    if (r.ambiguous + r.stale + r.foreign + r.unknownCount + r.excess > 0) {
      this.ctx.note(
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
      const blk = this.ctx.reader.read(b);
      const nr = getU32(blk, 16);
      const max = getU32(blk, 20);
      const children: number[] = [];
      for (let i = 0; i < nr; i++) children.push(u64ValueAt(blk, max, i));
      for (const c of children) visit(c, id, depth + 1);
    };
    for (const t of oldTops) {
      const blk = this.ctx.reader.read(t);
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
export class Families {
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

/** Indices of g's entries sorted by key (stable). */
function sortedOrder(g: Growing): Uint32Array {
  const idx = new Uint32Array(g.length);
  for (let i = 0; i < g.length; i++) idx[i] = i;
  const keys = g.keys;
  return idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
}
