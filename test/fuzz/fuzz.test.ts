/**
 * Fuzzing check and dump with seeded damage. `npm test` runs a bounded
 * number of cases (FUZZ_CASES, default 45: five of each kind); `npm run fuzz`
 * runs many more. Each case: no uncaught exception, no hang, a fatal
 * verdict names the damaged block, the verdict agrees with thin_check 1.1,
 * and dump either works or fails with a one-line typed error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { MetadataError, UsageError } from '../../src/format/errors.js';
import { check } from '../../src/thin/check.js';
import { dump } from '../../src/thin/dump.js';
import { Metadata } from '../../src/thin/metadata.js';
import { restore } from '../../src/thin/restore.js';
import { damage, usedBlocks } from '../support/damage-generator.js';
import { emptyFile, oracle, scratch, tpt11 } from '../support/env.js';

const CASES = Number(process.env.FUZZ_CASES ?? 45);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const tmp = scratch('dmthin-fuzz-');
afterAll(() => tmp.cleanup());
let pristine = '';
let used: Map<string, number[]>;

beforeAll(() => {
  const xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 77, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 30000, rewriteShare: 0.2, runLength: 3 });
  pristine = emptyFile(tmp.path('pristine.meta'), metadataBytesFor(g.mappings));
  restore(xml, pristine);
  used = usedBlocks(pristine);
});

const nullSink = { begin() {}, beginDevice() {}, run() {}, endDevice() {}, end() {} };

describe(`fuzz: ${CASES} seeded damage cases from seed ${FIRST_SEED}`, () => {
  it('check and dump survive every case, name the block, and agree with thin_check 1.1', () => {
    const disagreements: string[] = [];
    const counts = new Map<string, number>();
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const path = tmp.path(`case.meta`);
      const d = damage(pristine, path, used, seed);
      const label = `seed ${seed}: ${d.kind} at block ${d.block} (${d.blockKind})`;
      counts.set(d.kind, (counts.get(d.kind) ?? 0) + 1);
      const t0 = Date.now();
      const r = check(path); // must not throw
      expect(Date.now() - t0, `${label}: check took too long`).toBeLessThan(20_000);
      const fatal = r.findings.filter((f) => f.severity === 'fatal');
      if (!r.ok) {
        // Every fatal verdict points somewhere; the damaged block itself is
        // named unless the damage only shows as a count elsewhere.
        for (const f of fatal.filter((x) => !/more \w+ blocks have bad reference counts/.test(x.message))) {
          expect(f.block !== undefined || /block \d+/.test(f.message), `${label}: ${f.message}`).toBe(true);
        }
        const named = fatal.some((f) => f.block === d.block || f.message.includes(`block ${d.block}`) || d.kind === 'truncated' || d.kind === 'index-or-bitmap-garbage' || d.kind === 'stale-copy');
        expect(named, `${label}: ${JSON.stringify(fatal.slice(0, 3))}`).toBe(true);
      }
      if (tpt11) {
        const theirs = oracle('1.1', 'thin_check', ['-q', path]).code === 0;
        if (theirs !== r.ok) disagreements.push(`${label}: dmthin ${r.ok ? 'passes' : 'fails'}, thin_check 1.1 ${theirs ? 'passes' : 'fails'}; ${fatal[0]?.message ?? ''}`);
      }
      try {
        const md = Metadata.open(path);
        try {
          dump(md, nullSink);
        } finally {
          md.close();
        }
      } catch (e) {
        expect(e instanceof MetadataError || e instanceof UsageError, `${label}: dump threw ${(e as Error).stack}`).toBe(true);
      }
    }
    expect(disagreements).toEqual([]);
    expect(counts.size).toBe(Math.min(CASES, 9));
  }, 60_000 + CASES * 3_000);
});
