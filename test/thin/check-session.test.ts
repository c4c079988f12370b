/**
 * check --auto-repair --clear-needs-check-flag is one read-write session:
 * the metadata file is opened once, and its superblock validated once per
 * pass (the check, then the re-check after leaks were given back), however
 * many writes follow. The opens and validations are counted by wrapping
 * node:fs's openSync and the superblock codec's validateSuperblock.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFileSync } from 'node:fs';

const counts = vi.hoisted(() => ({ opens: new Map<string, number>(), validations: 0 }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = (path: unknown, ...rest: unknown[]): number => {
    if (typeof path === 'string') counts.opens.set(path, (counts.opens.get(path) ?? 0) + 1);
    return (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
  };
  return { ...fs, default: { ...fs, openSync }, openSync };
});

vi.mock('../../src/format/superblock.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../src/format/superblock.js')>();
  return {
    ...m,
    validateSuperblock: (...a: Parameters<typeof m.validateSuperblock>) => {
      counts.validations++;
      return m.validateSuperblock(...a);
    },
  };
});

import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { bitmapEntry, setBitmapEntry } from '../../src/format/bitmap.js';
import { parseNodeHeader } from '../../src/format/btree-node.js';
import { getU64 } from '../../src/format/le.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { check } from '../../src/thin/check/check.js';
import { checkAndFix } from '../../src/thin/check/check-and-fix.js';
import { restore } from '../../src/thin/restore/restore.js';
import { emptyFile, scratch } from '../support/env.js';
import { patchBlock, readBlock } from '../support/damage.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
let pool = '';
let n = 0;

beforeAll(() => {
  const xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 7, origins: 1, snapshotsPerOrigin: 1, mappingsPerOrigin: 3000, rewriteShare: 0.2, runLength: 4, spareDataBlocks: 100 });
  pool = emptyFile(tmp.path('p.meta'), metadataBytesFor(g.mappings));
  restore(xml, pool);
});

/** A copy of the pool with `data` free data blocks marked used (leaked) and its NEEDS_CHECK flag set. */
function leakyCopy(data: number): string {
  const p = tmp.path(`c${n++}.meta`);
  copyFileSync(pool, p);
  const sb = parseSuperblock(readBlock(p, 0));
  const idx = readBlock(p, sb.dataSpaceMapRoot.bitmapRoot);
  const bitmap = getU64(idx, 32 + 8 * parseNodeHeader(idx).maxEntries);
  patchBlock(
    p,
    bitmap,
    (d) => {
      let left = data;
      for (let i = Math.min(sb.dataSpaceMapRoot.nrBlocks, 16320) - 1; i >= 0 && left > 0; i--) {
        if (bitmapEntry(d, i) === 0) {
          setBitmapEntry(d, i, 1);
          left--;
        }
      }
    },
    'bitmap',
  );
  patchBlock(p, 0, (_b, dv) => dv.setUint32(4, 1, true), 'superblock');
  return p;
}

function counted<T>(path: string, fn: () => T): { value: T; opens: number; validations: number } {
  counts.opens.clear();
  counts.validations = 0;
  const value = fn();
  return { value, opens: counts.opens.get(path) ?? 0, validations: counts.validations };
}

describe('check and fix as one session', () => {
  it('check --auto-repair --clear-needs-check-flag opens the metadata once and validates its superblock once per pass', () => {
    const p = leakyCopy(4);
    const r = counted(p, () => checkAndFix(p, { autoRepair: true, clearNeedsCheckFlag: true }));
    expect(r.value.gaveBack).toEqual({ data: 4, metadata: 0 });
    expect(r.value.clearedNeedsCheck).toBe(true);
    expect(r.value.exitCode).toBe(0);
    expect(r.opens).toBe(1);
    expect(r.validations).toBe(2);
    // What was written is what a fresh check sees: no leak, no flag.
    const after = check(p);
    expect([after.findings, after.needsCheck]).toEqual([[], false]);
  });

  it('a clean check that only clears the flag validates the superblock once', () => {
    const p = leakyCopy(0);
    const r = counted(p, () => checkAndFix(p, { clearNeedsCheckFlag: true }));
    expect([r.value.clearedNeedsCheck, r.value.gaveBack, r.opens, r.validations]).toEqual([true, undefined, 1, 1]);
    expect(check(p).needsCheck).toBe(false);
  });

  it('a check that writes nothing opens the metadata once, read-only, and leaves it as it was', () => {
    const p = leakyCopy(2);
    const before = readBlock(p, 0);
    const r = counted(p, () => checkAndFix(p, {}));
    expect([r.value.exitCode, r.value.result.leakedDataBlocks, r.opens, r.validations]).toEqual([1, 2, 1, 1]);
    expect(readBlock(p, 0)).toEqual(before);
  });
});
