/**
 * Seeded damage for the fuzzer: each case picks a metadata block in use and
 * breaks it one way (or truncates the file), recording which block it hit
 * so the test can demand that the checker names it.
 */
import { copyFileSync, statSync, truncateSync } from 'node:fs';
import { prng } from '../bench/pool-generator.js';
import { BLOCK_SIZE, classifyBlock } from '../../src/format/checksum.js';
import { parseNodeHeader } from '../../src/format/btree-node.js';
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
  | 'index-or-bitmap-garbage';

export interface Damage {
  kind: DamageKind;
  /** The block damaged (the first block cut off, for truncation). */
  block: number;
  blockKind: string;
}

export const DAMAGE_KINDS: DamageKind[] = ['bit-flip', 'zeroed', 'stale-copy', 'cycle', 'pointer-past-end', 'nr-entries-over-max', 'wrong-value-size', 'truncated', 'index-or-bitmap-garbage'];

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

/** Copies `pristine` to `path` and damages it; returns what was done. */
export function damage(pristine: string, path: string, used: Map<string, number[]>, seed: number): Damage {
  copyFileSync(pristine, path);
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const kind = DAMAGE_KINDS[seed % DAMAGE_KINDS.length]!;
  const nodes = used.get('btreeNode') ?? [];
  const all = [...used.values()].flat();
  const internal = nodes.filter((b) => parseNodeHeader(readBlock(pristine, b)).flags === 1);
  const nrBlocks = Math.floor(statSync(pristine).size / BLOCK_SIZE);
  switch (kind) {
    case 'bit-flip': {
      const b = pick(all);
      patchBlock(path, b, (d) => (d[4 + Math.floor(rnd() * (BLOCK_SIZE - 4))] ^= 1 << Math.floor(rnd() * 8)));
      return { kind, block: b, blockKind: classifyBlock(readBlock(pristine, b))! };
    }
    case 'zeroed': {
      const b = pick(all);
      writeBlock(path, b, new Uint8Array(BLOCK_SIZE));
      return { kind, block: b, blockKind: classifyBlock(readBlock(pristine, b))! };
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
      patchBlock(path, b, (_d, dv) => {
        dv.setUint32(32 + 8 * h.maxEntries + 8 * i, target, true);
        dv.setUint32(32 + 8 * h.maxEntries + 8 * i + 4, 0, true);
      }, 'btreeNode');
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
      patchBlock(path, b, (_d, dv) => dv.setUint32(24, pick([4, 16, 24, 32, 7]), true), 'btreeNode');
      return { kind, block: b, blockKind: 'btreeNode' };
    }
    case 'truncated': {
      const maxUsed = Math.max(...all);
      const cut = 1 + Math.floor(rnd() * maxUsed);
      truncateSync(path, cut * BLOCK_SIZE);
      return { kind, block: cut, blockKind: 'file' };
    }
    case 'index-or-bitmap-garbage': {
      const b = pick([...(used.get('bitmap') ?? []), ...(used.get('index') ?? [])]);
      const k = classifyBlock(readBlock(pristine, b))!;
      patchBlock(path, b, (d) => {
        for (let j = 0; j < 8; j++) d[16 + Math.floor(rnd() * (BLOCK_SIZE - 16))] = Math.floor(rnd() * 256);
      }, rnd() < 0.5 ? (k as 'bitmap' | 'index') : undefined);
      return { kind, block: b, blockKind: k };
    }
  }
}
