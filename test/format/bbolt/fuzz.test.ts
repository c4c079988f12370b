/**
 * Seeded fuzzing: valid images (this project's writer's and bbolt's own)
 * with bytes flipped, fields set to awkward values, and metas changed with
 * their checksums stamped again (so that damage gets past the meta checks).
 * Everything a caller can do with a file must end in success or a
 * BoltError, never another error, and the whole run must finish.
 */
import { describe, expect, it } from 'vitest';
import type { BoltBucket } from '../../../src/format/bbolt/bucket.js';
import { BoltError } from '../../../src/format/bbolt/errors.js';
import { freelistPageIds, scanFreeLeaves, unreachablePageIds } from '../../../src/format/bbolt/free-pages.js';
import { parseMeta, writeMeta } from '../../../src/format/bbolt/meta.js';
import { buildBoltImage } from '../../../src/format/bbolt/writer.js';
import { setU32 } from '../../../src/format/le.js';
import { openImage, realImage } from './helpers.js';
import { prng as rng } from '../../bench/pool-generator.js';

function writerImage(): Uint8Array {
  const many: Record<string, string> = {};
  for (let i = 0; i < 300; i++) many[`k${String(i).padStart(4, '0')}`] = `v${i}`;
  return buildBoltImage(
    { v1: { default: { many, small: { a: '1' }, big: 'b'.repeat(5000) } }, top: 'x' },
    { pageSize: 1024, previous: { v1: { default: { many, gone: 'deleted' } } } },
  );
}

const AWKWARD = [0, 1, 2, 3, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 16, 4096, 1024];

/** Damages a copy of `base` in one of four ways. */
function damage(base: Uint8Array, pageSize: number, rand: () => number): Uint8Array {
  const image = base.slice();
  const pick = (n: number): number => Math.floor(rand() * n);
  const pages = image.length / pageSize;
  const mode = pick(4);
  const flips = 1 + pick(4);
  for (let f = 0; f < flips; f++) {
    if (mode === 0) {
      image[pick(image.length)] ^= 1 << pick(8); // anywhere
    } else if (mode === 1) {
      image[pick(pages) * pageSize + pick(Math.min(pageSize, 160))] = pick(256); // headers and element arrays
    } else if (mode === 2) {
      setU32(image, pick(pages) * pageSize + 4 * pick(40), AWKWARD[pick(AWKWARD.length)]); // a field set to an awkward value
    } else {
      const meta = image.subarray(pick(2) * pageSize, 2 * pageSize); // a meta changed, its checksum stamped again
      setU32(meta, 16 + 4 * (2 + pick(12)), rand() < 0.5 ? AWKWARD[pick(AWKWARD.length)] : pick(pages + 4));
      writeMeta(parseMeta(meta, { file: 'fuzz', page: 0 }), meta);
    }
  }
  return image;
}

/** Walks everything: buckets to any depth (within a budget of entries: shared sub-trees may repeat), look-ups, free pages. */
function useFully(image: Uint8Array): 'ok' | 'error' {
  let budget = 20_000;
  const walk = (bucket: BoltBucket): void => {
    for (const e of bucket.entries()) {
      if (--budget < 0) return;
      if (e.bucket) walk(e.bucket);
    }
  };
  let outcome: 'ok' | 'error' = 'ok';
  const attempt = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof BoltError)) throw e;
      expect(e.message).not.toContain('\n');
      outcome = 'error';
    }
  };
  attempt(() => {
    const db = openImage(image, 'fuzz.db');
    attempt(() => walk(db.root()));
    attempt(() => db.bucket('v1')?.bucket('default')?.bucket('many')?.get('k0150'));
    attempt(() => db.bucket('v1')?.bucket('default')?.bucket('small')?.get('a'));
    attempt(() => walk(db.previousRoot()));
    attempt(() => freelistPageIds(db));
    attempt(() => unreachablePageIds(db));
    attempt(() => {
      for (const _ of scanFreeLeaves(
        db,
        Array.from({ length: db.pages.pageCount }, (_, i) => i),
      ))
        if (--budget < -100_000) break;
    });
  });
  return outcome;
}

describe('fuzzed bbolt files', () => {
  for (const [name, base, pageSize, seed] of [
    ['the writer’s image', writerImage(), 1024, 0xb017],
    ['bbolt’s own file', realImage(), 4096, 0xe7cd],
  ] as const) {
    it(`ends every use of ${name} in success or a BoltError (1500 seeded damages)`, () => {
      const rand = rng(seed);
      const seen = { ok: 0, error: 0 };
      const started = Date.now();
      for (let i = 0; i < 1500; i++) seen[useFully(damage(base, pageSize, rand))]++;
      // Both outcomes occur: the damage reaches past the meta checks and is not all harmless.
      expect(seen.ok).toBeGreaterThan(100);
      expect(seen.error).toBeGreaterThan(100);
      expect(Date.now() - started).toBeLessThan(60_000);
    });
  }
});
