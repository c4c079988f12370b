/**
 * Seeded damage for the fuzzer: each case picks a metadata block in use and
 * breaks it one way (or truncates the file anywhere, or swaps or duplicates
 * blocks), recording which block it hit so the test can demand that the
 * checker names it. Three in four cases hit a block the current metadata
 * uses; the rest hit any block with a valid checksum (kernel-made metadata
 * is full of older generations, which repair reads).
 */
import { copyFileSync, statSync, truncateSync } from 'node:fs';
import { prng } from '../bench/pool-generator.js';
import { BLOCK_SIZE, type BlockKind, classifyBlock } from '../../src/format/checksum.js';
import { must } from '../../src/errors.js';
import { parseNodeHeader, valueOffset } from '../../src/format/btree-node.js';
import { ENTRIES_PER_BITMAP } from '../../src/format/bitmap.js';
import { INDEX_ENTRY_SIZE, parseIndexEntry, parseMetadataIndex } from '../../src/format/index-entry.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { patchBlock, readBlock, writeBlock } from './damage.js';

export type DamageKind =
  | 'bit-flip'
  | 'zeroed'
  | 'stale-copy'
  | 'cycle'
  | 'pointer-past-end'
  | 'nr-entries-over-max'
  | 'wrong-value-size'
  | 'truncated'
  | 'index-or-bitmap-garbage'
  | 'swapped'
  | 'duplicated';

export interface Damage {
  kind: DamageKind;
  /** The block damaged (the first block cut off, for truncation). */
  block: number;
  /** The other block of a swap, or the source of a duplicate. */
  other?: number;
  blockKind: string;
}

export const DAMAGE_KINDS: DamageKind[] = [
  'bit-flip',
  'zeroed',
  'stale-copy',
  'cycle',
  'pointer-past-end',
  'nr-entries-over-max',
  'wrong-value-size',
  'truncated',
  'index-or-bitmap-garbage',
  'swapped',
  'duplicated',
];

/** Blocks of `path` with a valid checksum, by kind. */
export function usedBlocks(path: string): Map<string, number[]> {
  const n = Math.floor(statSync(path).size / BLOCK_SIZE);
  const out = new Map<string, number[]>();
  for (let b = 0; b < n; b++) {
    const k = classifyBlock(readBlock(path, b));
    if (k) out.set(k, [...(out.get(k) ?? []), b]);
  }
  return out;
}

/**
 * The blocks the current metadata uses: the superblock, every node of its
 * trees (and of the held metadata snapshot's), the space maps' index,
 * bitmap and ref-count blocks. Read as the kernel lays them out; stops
 * quietly at anything unreadable (it only steers the damage).
 */
export function liveBlocks(path: string): number[] {
  const n = Math.floor(statSync(path).size / BLOCK_SIZE);
  const live = new Set<number>();
  const tree = (root: number, leafValuesAreRoots: boolean, onLeaf?: (b: Uint8Array) => void): void => {
    const stack = [root];
    for (let b = stack.pop(); b !== undefined; b = stack.pop()) {
      if (b <= 0 || b >= n || live.has(b)) continue;
      const blk = readBlock(path, b);
      if (classifyBlock(blk) !== 'btreeNode') continue;
      live.add(b);
      const h = parseNodeHeader(blk);
      const nr = Math.min(h.nrEntries, h.maxEntries);
      if (h.flags === 1 || leafValuesAreRoots) {
        for (let i = 0; i < nr; i++) {
          const child = Number(new DataView(blk.buffer).getBigUint64(32 + 8 * h.maxEntries + 8 * i, true));
          if (h.flags === 1) stack.push(child);
          else tree(child, false);
        }
      } else onLeaf?.(blk);
    }
  };
  const supers = [0];
  const sb0 = parseSuperblock(readBlock(path, 0));
  if (sb0.heldRoot > 0 && sb0.heldRoot < n) supers.push(sb0.heldRoot);
  for (const at of supers) {
    live.add(at);
    const sb = parseSuperblock(readBlock(path, at));
    tree(sb.mappingRoot, true);
    tree(sb.detailsRoot, false);
    if (at !== 0) continue;
    tree(sb.dataSpaceMapRoot.bitmapRoot, false, (leaf) => {
      const h = parseNodeHeader(leaf);
      for (let i = 0; i < Math.min(h.nrEntries, h.maxEntries); i++) live.add(parseIndexEntry(leaf, valueOffset(h.maxEntries, INDEX_ENTRY_SIZE, i)).blocknr);
    });
    tree(sb.dataSpaceMapRoot.refCountRoot, false);
    tree(sb.metadataSpaceMapRoot.refCountRoot, false);
    const idx = sb.metadataSpaceMapRoot.bitmapRoot;
    if (idx > 0 && idx < n) {
      live.add(idx);
      try {
        for (const e of parseMetadataIndex(readBlock(path, idx), idx, Math.ceil(sb.metadataSpaceMapRoot.nrBlocks / ENTRIES_PER_BITMAP)))
          if (e) live.add(e.blocknr);
      } catch {
        // An unreadable index: its bitmaps are not steered to.
      }
    }
  }
  return [...live].filter((b) => b < n).sort((a, b) => a - b);
}

/** The kind of a block `used` lists: it carries a valid checksum of some kind. */
function kindOf(block: Uint8Array): BlockKind {
  return must(classifyBlock(block), 'the kind of a block in use');
}

/** Copies `pristine` to `path` and damages it; returns what was done. */
export function damage(pristine: string, path: string, used: Map<string, number[]>, seed: number, live: readonly number[] = []): Damage {
  copyFileSync(pristine, path);
  const rnd = prng(seed);
  const kind = DAMAGE_KINDS[seed % DAMAGE_KINDS.length];
  const liveSet = new Set(live);
  // Three picks in four from what the current metadata uses, when there is a choice.
  const pick = <T extends number>(a: readonly T[]): T => {
    const inUse = a.filter((b) => liveSet.has(b));
    const from = inUse.length > 0 && rnd() < 0.75 ? inUse : a;
    return from[Math.floor(rnd() * from.length)];
  };
  const nodes = used.get('btreeNode') ?? [];
  const all = [...used.values()].flat();
  const internal = nodes.filter((b) => parseNodeHeader(readBlock(pristine, b)).flags === 1);
  const nrBlocks = Math.floor(statSync(pristine).size / BLOCK_SIZE);
  switch (kind) {
    case 'bit-flip': {
      const b = pick(all);
      patchBlock(path, b, (d) => (d[4 + Math.floor(rnd() * (BLOCK_SIZE - 4))] ^= 1 << Math.floor(rnd() * 8)));
      return { kind, block: b, blockKind: kindOf(readBlock(pristine, b)) };
    }
    case 'zeroed': {
      const b = pick(all);
      writeBlock(path, b, new Uint8Array(BLOCK_SIZE));
      return { kind, block: b, blockKind: kindOf(readBlock(pristine, b)) };
    }
    case 'stale-copy': {
      const b = pick(nodes);
      let other = pick(nodes);
      if (other === b) other = pick(all);
      writeBlock(path, b, readBlock(pristine, other));
      return { kind, block: b, blockKind: 'btreeNode' };
    }
    case 'cycle':
    case 'pointer-past-end': {
      const b = internal.length ? pick(internal) : pick(nodes);
      const h = parseNodeHeader(readBlock(pristine, b));
      const i = Math.floor(rnd() * Math.max(1, h.nrEntries));
      const target = kind === 'cycle' ? b : nrBlocks + Math.floor(rnd() * 1000);
      patchBlock(
        path,
        b,
        (_d, dv) => {
          dv.setUint32(32 + 8 * h.maxEntries + 8 * i, target, true);
          dv.setUint32(32 + 8 * h.maxEntries + 8 * i + 4, 0, true);
        },
        'btreeNode',
      );
      return { kind, block: kind === 'cycle' ? b : target, blockKind: 'btreeNode' };
    }
    case 'nr-entries-over-max': {
      const b = pick(nodes);
      const h = parseNodeHeader(readBlock(pristine, b));
      patchBlock(path, b, (_d, dv) => dv.setUint32(16, h.maxEntries + 1 + Math.floor(rnd() * 100), true), 'btreeNode');
      return { kind, block: b, blockKind: 'btreeNode' };
    }
    case 'wrong-value-size': {
      const b = pick(nodes);
      patchBlock(path, b, (_d, dv) => dv.setUint32(24, [4, 16, 24, 32, 7][Math.floor(rnd() * 5)], true), 'btreeNode');
      return { kind, block: b, blockKind: 'btreeNode' };
    }
    case 'truncated': {
      // Anywhere in the file's written part, each region as likely as another.
      const maxUsed = Math.max(...all);
      const cut = 1 + Math.floor(rnd() * maxUsed);
      truncateSync(path, cut * BLOCK_SIZE);
      return { kind, block: cut, blockKind: 'file' };
    }
    case 'swapped': {
      // Two blocks written to each other's places (a misdirected write pair).
      const a = pick(all);
      let b = pick(all);
      if (b === a) b = all[(all.indexOf(a) + 1) % all.length];
      const da = readBlock(pristine, a);
      writeBlock(path, a, readBlock(pristine, b));
      writeBlock(path, b, da);
      return { kind, block: a, other: b, blockKind: kindOf(da) };
    }
    case 'duplicated': {
      // A block written twice: a second copy lands over another block in use.
      const src = pick(all);
      let dst = pick(all);
      if (dst === src) dst = all[(all.indexOf(src) + 1) % all.length];
      writeBlock(path, dst, readBlock(pristine, src));
      return { kind, block: dst, other: src, blockKind: kindOf(readBlock(pristine, dst)) };
    }
    case 'index-or-bitmap-garbage': {
      const b = pick([...(used.get('bitmap') ?? []), ...(used.get('index') ?? [])]);
      const k = kindOf(readBlock(pristine, b));
      patchBlock(
        path,
        b,
        (d) => {
          for (let j = 0; j < 8; j++) d[16 + Math.floor(rnd() * (BLOCK_SIZE - 16))] = Math.floor(rnd() * 256);
        },
        rnd() < 0.5 ? (k as 'bitmap' | 'index') : undefined,
      );
      return { kind, block: b, blockKind: k };
    }
  }
}
