/**
 * Fuzzing check, dump and repair with seeded damage (see fuzz-case.ts for
 * what each case demands). `npm test` runs a bounded number of cases
 * (FUZZ_CASES, default 22: two of each damage kind) on each of three
 * pools: a generated one, and two kernel-made ones full of older
 * generations (a snapshot family with a held metadata snapshot; ten devices
 * with snapshots of snapshots, a deleted device and a metadata allocator
 * that has wrapped round), where a repair can go wrong. `npm run fuzz` runs
 * thousands (test/fuzz/run.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { restore } from '../../src/thin/restore/restore.js';
import { emptyFile, scratch } from '../support/env.js';
import { fixture } from '../bench/repair-measure.js';
import { DAMAGE_KINDS } from '../support/damage-generator.js';
import { type Pristine, addToTally, emptyTally, pristineOf, runCase } from './fuzz-case.js';
import { must } from '../../src/errors.js';

const CASES = Number(process.env.FUZZ_CASES ?? 2 * DAMAGE_KINDS.length);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const tmp = scratch('dmthin-fuzz-');
afterAll(() => tmp.cleanup());

const pools: Pristine[] = [];
beforeAll(() => {
  const xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 77, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 30000, rewriteShare: 0.2, runLength: 3 });
  const path = emptyFile(tmp.path('generated.meta'), metadataBytesFor(g.mappings));
  restore(xml, path);
  pools.push(pristineOf('generated', path));
  pools.push(pristineOf('snapshots', fixture('snapshots', tmp.dir)));
  pools.push(pristineOf('generations', fixture('generations', tmp.dir)));
});

describe(`fuzz: ${CASES} seeded damage cases per pool from seed ${FIRST_SEED}`, () => {
  for (const name of ['generated', 'snapshots', 'generations']) {
    it(
      `${name}: check, dump and repair survive, the block is named, thin_check 1.1 agrees, repair writes no wrong mapping`,
      () => {
        const p = must(
          pools.find((x) => x.name === name),
          `pool ${name}`,
        );
        const t = emptyTally();
        const failures: string[] = [];
        const disagreements: string[] = [];
        for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
          const r = runCase(p, seed, tmp.dir);
          addToTally(t, r);
          failures.push(...r.failures);
          if (r.disagreement) disagreements.push(r.disagreement);
          expect(r.ms, `${r.label}: took ${r.ms} ms`).toBeLessThan(30_000);
        }
        console.log(
          `fuzz (${name}): ${t.cases} cases; repair wrote ${t.repaired} (${t.correct} mappings correct, ${t.wrong} wrong, ${t.recovered} from older copies), refused ${t.refused}; thin_check 1.1 alone against dmthin and 0.9: ${t.oracleMisses}`,
        );
        expect(failures).toEqual([]);
        expect(disagreements).toEqual([]);
        expect(t.wrong).toBe(0);
        expect(Object.keys(t.byKind).length).toBe(Math.min(CASES, DAMAGE_KINDS.length));
      },
      120_000 + CASES * 3_000,
    );
  }
});
