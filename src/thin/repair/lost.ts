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
import type { SalvagedDevice } from './salvage.js';
import type { ByteSpan as ByteRange } from '../lost-holds.js';

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
  /** Whether the ranges hold more blocks than the newest details say are missing (blocks never written count too). */
  inexact: boolean;
  /** Mapped blocks lost, as the newest details count them (undefined when they are lost). */
  missing?: number;
  /** Whether the last range runs on to the device's end, which the metadata does not record (it is cut at what the count reaches). */
  toEnd?: boolean;
}

/**
 * The virtual blocks of `dev` no trustworthy mapping gives after the best
 * repair: each lost key range less the blocks older copies gave back. A
 * lost node's range also holds blocks it never mapped, and nothing in
 * the metadata says which (older copies of leaves show an older state,
 * and other devices' leaves share the keys): the whole range is counted,
 * a bound that holds every lost block, and flagged when the newest
 * details say fewer are missing. When the details' count is met by what
 * survives and what older copies give back, nothing is lost.
 */
export function lostBlocks(dev: SalvagedDevice, sizeBlocks: number | undefined, said: number | undefined): DeviceLoss {
  const rec = dev.recovered;
  const keys = Array.from(rec.keys.subarray(0, rec.length)).sort((a, b) => a - b);
  const missing = said === undefined ? undefined : Math.max(0, said - dev.intact - rec.length);
  // The newest details count every mapping the device had (the kernel commits them with the trees): all accounted for, nothing is lost.
  if (missing === 0) return { blocks: [], inexact: false, missing };
  const out: Array<{ lo: number; hi: number }> = [];
  let toEnd = false;
  for (const h of [...dev.holes].sort((a, b) => a.lo - b.lo)) {
    let hi = h.hi;
    if (sizeBlocks !== undefined) hi = Math.min(hi, sizeBlocks);
    else if (hi === Infinity) {
      toEnd = true;
      // The tree's last range has no end: as far as the missing count reaches past the recovered keys in it.
      const inside = keys.filter((k) => k >= h.lo).length;
      hi = h.lo + Math.max(1, (missing ?? 0) + inside);
    }
    let at = h.lo;
    for (const k of keys) {
      if (k < at || k >= hi) continue;
      if (k > at) out.push({ lo: at, hi: k });
      at = k + 1;
    }
    if (at < hi) out.push({ lo: at, hi });
  }
  const blocks = merge(out);
  const count = blocks.reduce((a, r) => a + r.hi - r.lo, 0);
  return { blocks, inexact: missing !== undefined && count > missing, missing, ...(toEnd && blocks.length > 0 ? { toEnd } : {}) };
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
