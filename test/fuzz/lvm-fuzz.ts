/**
 * The LVM fuzzer: thousands of seeded mutations of the lvm2-made PV
 * fixtures (lvm-case.ts says what each case mutates, runs and demands),
 * in parallel worker processes, a progress line as it goes and the totals
 * at the end. Exits 1 when any case found a fault.
 *
 *   FUZZ_CASES=10000 node dist/test/fuzz/lvm-fuzz.js
 *   FUZZ_SEED=1 FUZZ_JOBS=2 FUZZ_HASH_EVERY=10
 *
 * FUZZ_HASH_EVERY: one case in N compares the images' sha256 before and
 * after (every case compares size, times and inode, which any write moves).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES, type LvmCaseResult, MUTATIONS, runLvmCase } from './lvm-case.js';
import { type PristineImage, loadPristine } from './lvm-image.js';
import { runWorkers, seedBatches, serveJobs, toParent } from './workers.js';

interface Job {
  seeds: number[];
}

function worker(): void {
  const scratch = mkdtempSync(join(tmpdir(), 'dmthin-lvmfuzzw-'));
  const pristine = new Map<string, PristineImage>(FIXTURES.map((n) => [n, loadPristine(n, scratch)]));
  const hashEvery = Number(process.env.FUZZ_HASH_EVERY ?? 10);
  const dir = join(scratch, 'case');
  serveJobs<Job>(
    (job) => {
      for (const seed of job.seeds) {
        let r: LvmCaseResult;
        try {
          r = runLvmCase(pristine, seed, dir, seed % hashEvery === 0);
        } catch (e) {
          // The harness itself failed: a fault too, never silence.
          r = {
            label: `seed ${seed}`,
            mutation: MUTATIONS[seed % MUTATIONS.length],
            faults: [`seed ${seed}: the case itself threw ${(e as Error).stack}`],
            codes: [],
            ms: 0,
            maxRssKiB: 0,
          };
        }
        toParent(r);
      }
    },
    () => rmSync(scratch, { recursive: true, force: true }),
  );
}

async function main(): Promise<void> {
  const total = Number(process.env.FUZZ_CASES ?? 1000);
  const first = Number(process.env.FUZZ_SEED ?? 1);
  const jobs = Number(process.env.FUZZ_JOBS ?? 2);
  const queue: Job[] = seedBatches(first, total, 10).map((seeds) => ({ seeds }));
  const byMutation = new Map<string, { cases: number; faults: number; exit0: number }>();
  const faults: string[] = [];
  let done = 0;
  let slowest = { ms: 0, label: '' };
  let maxRss = { kib: 0, label: '' };
  const t0 = Date.now();
  const report = (final = false): void => {
    const secs = (Date.now() - t0) / 1000;
    const eta = done ? ((total - done) * secs) / done : 0;
    process.stderr.write(
      `lvm fuzz: ${done}/${total} cases, ${secs.toFixed(0)} s${final ? '' : `, about ${eta.toFixed(0)} s to go`}: ${faults.length} faults\n`,
    );
  };
  await runWorkers<Job, LvmCaseResult>(
    fileURLToPath(import.meta.url),
    [],
    jobs,
    queue,
    (m) => {
      done++;
      const t = byMutation.get(m.mutation) ?? { cases: 0, faults: 0, exit0: 0 };
      t.cases++;
      t.faults += m.faults.length ? 1 : 0;
      t.exit0 += m.codes[0] === 0 ? 1 : 0;
      byMutation.set(m.mutation, t);
      faults.push(...m.faults);
      // Each fault as it is found, so that a run cut short still says what it found.
      for (const f of m.faults) console.log(`FAULT ${f}`);
      if (m.ms > slowest.ms) slowest = { ms: m.ms, label: m.label };
      if (m.maxRssKiB > maxRss.kib) maxRss = { kib: m.maxRssKiB, label: m.label };
    },
    report,
  );
  report(true);
  for (const [m, t] of [...byMutation].sort()) console.log(`${m}: ${t.cases} cases, ${t.faults} with faults, exit 0 in ${t.exit0}`);
  console.log(`slowest case ${slowest.ms} ms (${slowest.label}); largest resident ${(maxRss.kib / 1024).toFixed(0)} MiB (${maxRss.label})`);
  console.log(`${done} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s with ${jobs} jobs: ${faults.length} faults`);
  process.exitCode = faults.length > 0 ? 1 : 0;
}

if (process.argv.includes('--worker')) worker();
else await main();
