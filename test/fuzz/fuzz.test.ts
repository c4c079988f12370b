/**
 * Fuzzing check and dump with seeded damage. `npm test` runs a bounded
 * number of cases (FUZZ_CASES, default 45: five of each kind); `npm run fuzz`
 * runs many more. Each case: no uncaught exception, no hang, a fatal
 * verdict names the damaged block, the verdict agrees with thin_check 1.1,
 * dump either works or fails with a one-line typed error, and repair
 * either fails with a typed error or writes metadata that passes thin_check
 * (1.1, else dmthin's own check) and holds no mapping the undamaged pool
 * lacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { MetadataError, UsageError } from '../../src/format/errors.js';
import { check } from '../../src/thin/check.js';
import { dump } from '../../src/thin/dump.js';
import { Metadata } from '../../src/thin/metadata.js';
import { restore } from '../../src/thin/restore.js';
import { repair } from '../../src/thin/repair.js';
import { damage, usedBlocks } from '../support/damage-generator.js';
import { statSync } from 'node:fs';
import { emptyFile, oracle, scratch, tpt11 } from '../support/env.js';
import { fixture } from '../bench/repair-measure.js';

const CASES = Number(process.env.FUZZ_CASES ?? 45);
/** Cases on the kernel-made fixture, which holds older generations (what repair can get wrong). */
const KERNEL_CASES = Number(process.env.FUZZ_KERNEL_CASES ?? Math.ceil(CASES / 2));
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const tmp = scratch('dmthin-fuzz-');
afterAll(() => tmp.cleanup());

interface Pristine {
  path: string;
  used: Map<string, number[]>;
  mappings: Map<string, number>;
}

function pristineOf(path: string): Pristine {
  const mappings = new Map<string, number>();
  const md = Metadata.open(path);
  try {
    dump(md, collect(mappings));
  } finally {
    md.close();
  }
  return { path, used: usedBlocks(path), mappings };
}

let generated: Pristine;
let kernelMade: Pristine;
beforeAll(() => {
  const xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 77, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 30000, rewriteShare: 0.2, runLength: 3 });
  const path = emptyFile(tmp.path('pristine.meta'), metadataBytesFor(g.mappings));
  restore(xml, path);
  generated = pristineOf(path);
  kernelMade = pristineOf(fixture('snapshots', tmp.dir));
});

/** A dump sink that records (dev, vblock) -> data block. */
function collect(into: Map<string, number>): Parameters<typeof dump>[1] {
  let dev = -1;
  return {
    begin() {},
    beginDevice(d) {
      dev = d.devId;
    },
    run(o, d, n) {
      for (let i = 0; i < n; i++) into.set(`${dev}:${o + i}`, d + i);
    },
    endDevice() {},
    end() {},
  };
}

const nullSink = { begin() {}, beginDevice() {}, run() {}, endDevice() {}, end() {} };

function fuzz(p: Pristine, cases: number, what: string): void {
  {
    const disagreements: string[] = [];
    const counts = new Map<string, number>();
    const repairFailures: string[] = [];
    const tally = { repaired: 0, refused: 0, recovered: 0, lost: 0 };
    for (let seed = FIRST_SEED; seed < FIRST_SEED + cases; seed++) {
      const path = tmp.path(`case.meta`);
      const d = damage(p.path, path, p.used, seed);
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
      const out = emptyFile(tmp.path('repaired.meta'), Math.max(metadataBytesFor(40000 * 6), statSync(p.path).size));
      const t1 = Date.now();
      try {
        const rr = repair(path, out);
        tally.repaired++;
        tally.recovered += rr.salvage.stats.recoveredMappings;
        tally.lost += rr.salvage.stats.holes;
      } catch (e) {
        tally.refused++;
        expect(e instanceof UsageError, `${label}: repair threw ${(e as Error).stack}`).toBe(true);
        // Only a file cut before its top level may leave nothing to rebuild from.
        if (d.kind !== 'truncated') repairFailures.push(`${label}: repair refused: ${(e as Error).message}`);
        else expect((e as Error).message).toMatch(/truncated/);
        continue;
      }
      expect(Date.now() - t1, `${label}: repair took too long`).toBeLessThan(20_000);
      const passes = tpt11 ? oracle('1.1', 'thin_check', ['-q', out]).code === 0 : check(out).ok;
      if (!passes) repairFailures.push(`${label}: repaired metadata fails thin_check`);
      const got = new Map<string, number>();
      const rmd = Metadata.open(out);
      try {
        dump(rmd, collect(got));
      } finally {
        rmd.close();
      }
      let wrong = 0;
      for (const [k, d] of got) if (p.mappings.get(k) !== d) wrong++;
      if (wrong > 0) repairFailures.push(`${label}: repair wrote ${wrong} mappings the undamaged pool lacks`);
    }
    console.log(`fuzz (${what}): ${cases} cases; repair wrote ${tally.repaired} (${tally.lost} lost ranges, ${tally.recovered} mappings from older copies), refused ${tally.refused} truncated files`);
    expect(disagreements).toEqual([]);
    expect(repairFailures).toEqual([]);
    expect(counts.size).toBe(Math.min(cases, 9));
  }
}

describe(`fuzz: seeded damage cases from seed ${FIRST_SEED}`, () => {
  it(`${CASES} cases on a generated pool: check, dump and repair survive, the block is named, thin_check 1.1 agrees, repair adds nothing wrong`, () => {
    fuzz(generated, CASES, 'generated pool');
  }, 60_000 + CASES * 3_000);
  it(`${KERNEL_CASES} cases on kernel-made metadata with older generations on disk: the same, and repair never takes a stale older copy`, () => {
    fuzz(kernelMade, KERNEL_CASES, 'kernel-made pool');
  }, 60_000 + KERNEL_CASES * 3_000);
});
