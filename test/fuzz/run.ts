/**
 * `npm run fuzz`: thousands of seeded damage cases (fuzz-case.ts) over the
 * generated pool and the two kernel-made fixtures, in parallel worker
 * processes, with a progress line as it goes and the totals at the end.
 *
 *   FUZZ_CASES=10000 npm run fuzz      (cases in all, split over the pools)
 *   FUZZ_SEED=1 FUZZ_JOBS=6            (first seed; worker processes)
 *
 * thin_check 1.1 sleeps about half a second per run, so more jobs than
 * cores keep the cores busy. Exits 1 when any case failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { fixture } from '../bench/repair-measure.js';
import { restore } from '../../src/thin/restore/restore.js';
import { emptyFile } from '../support/env.js';
import { runWorkers, seedBatches, serveJobs, toParent } from './workers.js';
import { type CaseResult, type Pristine, type Tally, addToTally, emptyTally, pristineOf, runCase } from './fuzz-case.js';

interface Job {
  pool: string;
  path: string;
  seeds: number[];
}

const POOLS = ['generated', 'snapshots', 'generations'];

function makePools(dir: string): Record<string, string> {
  const xml = join(dir, 'p.xml');
  const g = writePoolXml(xml, { seed: 77, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 30000, rewriteShare: 0.2, runLength: 3 });
  const generated = emptyFile(join(dir, 'generated.meta'), metadataBytesFor(g.mappings));
  restore(xml, generated);
  return { generated, snapshots: fixture('snapshots', dir), generations: fixture('generations', dir) };
}

function worker(): void {
  const pristine = new Map<string, Pristine>();
  serveJobs<Job>((job) => {
    let p = pristine.get(job.pool);
    if (!p) pristine.set(job.pool, (p = pristineOf(job.pool, job.path)));
    const dir = mkdtempSync(join(tmpdir(), 'dmthin-fuzzw-'));
    try {
      for (const seed of job.seeds) {
        let r: CaseResult;
        try {
          r = runCase(p, seed, dir);
        } catch (e) {
          // The harness itself failed (damage generator, scoring): a failure too, never silence.
          r = {
            label: `${job.pool} seed ${seed}`,
            kind: 'bit-flip',
            failures: [`${job.pool} seed ${seed}: the case itself threw ${(e as Error).stack}`],
            repaired: false,
            correct: 0,
            wrong: 0,
            recovered: 0,
            ms: 0,
          };
        }
        toParent({ pool: job.pool, r });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function main(): Promise<void> {
  const total = Number(process.env.FUZZ_CASES ?? 2000);
  const first = Number(process.env.FUZZ_SEED ?? 1);
  const jobs = Number(process.env.FUZZ_JOBS ?? Math.max(2, cpus().length * 3));
  const dir = mkdtempSync(join(tmpdir(), 'dmthin-fuzz-'));
  const paths = makePools(dir);
  const perPool = Math.ceil(total / POOLS.length);
  // Work in small batches so every worker stays busy to the end.
  const queue: Job[] = seedBatches(first, perPool, 20).flatMap((seeds) => POOLS.map((pool) => ({ pool, path: paths[pool], seeds })));
  const tallies: Record<string, Tally> = Object.fromEntries(POOLS.map((p) => [p, emptyTally()]));
  const failures: string[] = [];
  const disagreements: string[] = [];
  const oracleMisses: string[] = [];
  const t0 = Date.now();
  let done = 0;
  const report = (final = false): void => {
    const all = emptyTally();
    for (const t of Object.values(tallies)) {
      all.cases += t.cases;
      all.wrong += t.wrong;
      all.failures += t.failures;
      all.disagreements += t.disagreements;
    }
    const secs = (Date.now() - t0) / 1000;
    const eta = done > 0 ? ((POOLS.length * perPool - done) * secs) / done : 0;
    process.stderr.write(
      `fuzz: ${done}/${POOLS.length * perPool} cases, ${secs.toFixed(0)} s` +
        `${final ? '' : `, about ${eta.toFixed(0)} s to go`}: ${all.wrong} wrong mappings, ${all.failures} failures, ${all.disagreements} disagreements with thin_check 1.1\n`,
    );
  };
  await runWorkers<Job, { pool: string; r: CaseResult }>(
    fileURLToPath(import.meta.url),
    [],
    jobs,
    queue,
    (m) => {
      addToTally(tallies[m.pool], m.r);
      failures.push(...m.r.failures);
      if (m.r.disagreement) disagreements.push(m.r.disagreement);
      if (m.r.oracleMiss) oracleMisses.push(m.r.oracleMiss);
      done++;
    },
    report,
  );
  rmSync(dir, { recursive: true, force: true });
  report(true);
  for (const [pool, t] of Object.entries(tallies)) {
    const kinds = Object.entries(t.byKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    console.log(
      `${pool}: ${t.cases} cases (${kinds}); repair wrote ${t.repaired}, refused ${t.refused}; ` +
        `${t.correct} mappings correct, ${t.wrong} wrong, ${t.recovered} from older copies; ` +
        `${t.disagreements} disagreements with thin_check 1.1 (and ${t.oracleMisses} where thin_check 0.9 sides with dmthin); slowest case ${t.slowestMs} ms`,
    );
  }
  for (const f of [...failures, ...disagreements].slice(0, 50)) console.log(`FAIL ${f}`);
  for (const f of oracleMisses.slice(0, 20)) console.log(`thin_check 1.1 alone: ${f}`);
  console.log(
    `${done} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s with ${jobs} jobs: ${failures.length} failures, ${disagreements.length} disagreements`,
  );
  process.exitCode = failures.length + disagreements.length > 0 ? 1 : 0;
}

if (process.argv.includes('--worker')) worker();
else await main();
