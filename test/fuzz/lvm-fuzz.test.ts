/**
 * The LVM fuzzer in `npm test`: two seeded cases of each mutation
 * (lvm-case.ts: each through the real CLI, judged for engine messages,
 * exit codes, one-line problems, time and memory, unchanged images and no
 * output left behind). `node dist/test/fuzz/lvm-fuzz.js` runs thousands.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratch } from '../support/env.js';
import { FIXTURES, MUTATIONS, runLvmCase } from './lvm-case.js';
import { type PristineImage, loadPristine } from './lvm-image.js';

const CASES = Number(process.env.FUZZ_CASES ?? 2 * MUTATIONS.length);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const tmp = scratch('dmthin-lvmfuzz-');
afterAll(() => tmp.cleanup());
const pristine = new Map<string, PristineImage>();
beforeAll(() => {
  mkdirSync(tmp.path('fixtures'));
  for (const n of FIXTURES) pristine.set(n, loadPristine(n, tmp.path('fixtures')));
});

describe(`LVM fuzz: ${CASES} seeded cases from seed ${FIRST_SEED}`, () => {
  it(
    'every mutation of label, pv_header, mda header, ring, VG text, partitions and PV set: a named problem, never an engine message, a hang or a changed image',
    () => {
      const faults: string[] = [];
      for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
        const r = runLvmCase(pristine, seed, tmp.path('case'), seed % 5 === 0);
        faults.push(...r.faults);
      }
      expect(faults).toEqual([]);
    },
    60_000 + CASES * 5_000,
  );
});
