/**
 * What each device lost, in bytes, after the best repair: the key ranges
 * salvage could not read from the newest trees, less every virtual block
 * an older copy gave back. A lost range's end is its parent's next key;
 * the last range of a tree has none, so it ends at the device's size when
 * the caller knows it, else after as many blocks as the newest details
 * say are missing (a lower bound, and said so).
 */
import type { BlockReader } from '../../io/block-reader.js';
import { DEVICE_DETAILS_SIZE, parseDeviceDetails } from '../../format/device-details.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import type { SalvagedDevice } from '../repair/salvage.js';
import type { ByteRange } from './report.js';

/** mapped_blocks per device as the newest details tree says, whatever of it can be read (before salvage rewrites them). */
export function saidMappedBlocks(reader: BlockReader, detailsRoot: number): Map<number, number> {
  const out = new Map<number, number>();
  if (detailsRoot <= 0 || detailsRoot >= reader.nrBlocks) return out;
  new BTreeTraversal(reader).walk(detailsRoot, {
    valueSize: DEVICE_DETAILS_SIZE,
    tree: { kind: 'details' },
    onLeaf: (node) => {
      for (let i = 0; i < node.nrEntries; i++) out.set(node.key(i), parseDeviceDetails(node.bytes, node.valueOffset(i)).mappedBlocks);
    },
    onProblem: () => {},
  });
  return out;
}

export interface DeviceLoss {
  /** Lost virtual block ranges [lo, hi). */
  blocks: Array<{ lo: number; hi: number }>;
  /** Whether the ranges are a bound, not the exact blocks (no older copy tells which keys the lost nodes held). */
  inexact: boolean;
}

/**
 * The virtual blocks of `dev` no trustworthy mapping gives after the best
 * repair. A lost node's key range also holds blocks it never mapped; the
 * keys older copies of leaves hold in the range say which were mapped,
 * and the newest details say how many: when older copies name exactly
 * that many keys (not recovered), those keys are the lost ones; when the
 * details say none is missing, nothing is lost; else the whole range
 * counts (a bound that holds every lost block, said so).
 */
export function lostBlocks(dev: SalvagedDevice, sizeBlocks: number | undefined, said: number | undefined, olderKeys: readonly number[]): DeviceLoss {
  const rec = dev.recovered;
  const recovered = new Set<number>();
  for (let i = 0; i < rec.length; i++) recovered.add(rec.keys[i]);
  const missing = said === undefined ? undefined : Math.max(0, said - dev.intact - rec.length);
  const holes = [...dev.holes].sort((a, b) => a.lo - b.lo);
  const inHoles = (k: number): boolean => holes.some((h) => k >= h.lo && k < h.hi && (sizeBlocks === undefined || k < sizeBlocks));
  const known = [...new Set(olderKeys)].filter((k) => inHoles(k) && !recovered.has(k)).sort((a, b) => a - b);
  if (missing === 0) return { blocks: [], inexact: false };
  // Exactly as many as are missing: those. More (other devices' or deleted devices' old leaves) or fewer: the whole range, a bound that holds every lost block.
  if (missing !== undefined && known.length === missing) return { blocks: runsOf(known), inexact: false };
  const keys = [...recovered].sort((a, b) => a - b);
  let inexact = false;
  const out: Array<{ lo: number; hi: number }> = [];
  for (const h of holes) {
    let hi = h.hi;
    if (sizeBlocks !== undefined) hi = Math.min(hi, sizeBlocks);
    else if (hi === Infinity) {
      // The tree's last range has no end: as far as the missing count (or the keys older copies name) reaches.
      const inside = keys.filter((k) => k >= h.lo).length;
      hi = Math.max(h.lo + Math.max(1, (missing ?? 0) + inside), (known[known.length - 1] ?? -1) + 1);
    }
    let at = h.lo;
    for (const k of keys) {
      if (k < at || k >= hi) continue;
      if (k > at) out.push({ lo: at, hi: k });
      at = k + 1;
    }
    if (at < hi) out.push({ lo: at, hi });
    inexact = true;
  }
  return { blocks: merge(out), inexact };
}

function runsOf(sorted: readonly number[]): Array<{ lo: number; hi: number }> {
  const out: Array<{ lo: number; hi: number }> = [];
  for (const k of sorted) {
    const last = out[out.length - 1];
    if (last && last.hi === k) last.hi = k + 1;
    else out.push({ lo: k, hi: k + 1 });
  }
  return out;
}

function merge(ranges: Array<{ lo: number; hi: number }>): Array<{ lo: number; hi: number }> {
  const merged: Array<{ lo: number; hi: number }> = [];
  for (const r of ranges.sort((a, b) => a.lo - b.lo)) {
    const last = merged[merged.length - 1];
    if (last && r.lo <= last.hi) last.hi = Math.max(last.hi, r.hi);
    else merged.push({ ...r });
  }
  return merged;
}

export function toBytes(blocks: ReadonlyArray<{ lo: number; hi: number }>, blockBytes: number): ByteRange[] {
  return blocks.map((r) => ({ offset: r.lo * blockBytes, length: (r.hi - r.lo) * blockBytes }));
}

export function inRanges(ranges: readonly ByteRange[], offset: number): boolean {
  for (const r of ranges) if (offset >= r.offset && offset < r.offset + r.length) return true;
  return false;
}
