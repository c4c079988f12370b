/**
 * The stream fuzzer: seeded cases (stream-case.ts) of changed streams
 * received through the real CLI, in parallel worker processes, with a
 * progress line as it goes and the totals at the end.
 *
 *   FUZZ_CASES=10000 node dist/test/fuzz/stream-fuzz.js
 *   FUZZ_SEED=1 FUZZ_JOBS=2            (first seed; worker processes)
 *   FUZZ_CLI=path/to/dmthin.cjs        (another build: the default is this checkout's dist/)
 *
 * Exits 1 when any case failed (a fault: wrong exit code, wrong bytes, a
 * file changed by a refusal, more than one line or an engine message on
 * stderr, the time or memory cap passed).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, makeStreamPool } from '../stream/stream-pool.js';
import { runWorkers, seedBatches, serveJobs, toParent } from './workers.js';
import { RSS_CAP_KB, type StreamCaseResult, type StreamFixtures, TIME_CAP_MS, runStreamCase } from './stream-case.js';

const STREAMS = ['full2', 'full3', 'inc3', 'inc3from1'];

/** The pool, its streams and the previous target (thin 2 received, with its state record), in `dir`. */
export function makeStreamFixtures(dir: string): void {
  const pool = makeStreamPool(dir);
  pool.send(join(dir, 'full2'), 2);
  pool.send(join(dir, 'full3'), 3);
  pool.send(join(dir, 'inc3'), 3, 2);
  pool.send(join(dir, 'inc3from1'), 3, 1);
  const r = spawnSync(process.execPath, [cliPath, 'receive', '-i', join(dir, 'full2'), '-o', join(dir, 'dev2.img')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`receiving the previous target: ${r.stderr}`);
}

export function loadStreamFixtures(dir: string): StreamFixtures {
  return {
    streams: Object.fromEntries(STREAMS.map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))])),
    dev2: new Uint8Array(readFileSync(join(dir, 'dev2.img'))),
    state2: readFileSync(join(dir, 'dev2.img.dmthin-state'), 'utf8'),
    cli: cliPath,
  };
}

function worker(fixtureDir: string): void {
  const fx = loadStreamFixtures(fixtureDir);
  const base = mkdtempSync(join(tmpdir(), 'dmthin-sfuzzw-'));
  serveJobs<number[]>(
    (seeds) => {
      for (const seed of seeds) {
        let r: StreamCaseResult;
        try {
          r = runStreamCase(fx, seed, join(base, 'case'));
        } catch (e) {
          // The harness itself failed: a failure too, never silence.
          r = {
            label: `seed ${seed}`,
            kind: 'harness',
            target: '-',
            applied: false,
            failures: [`seed ${seed}: the case itself threw ${(e as Error).stack}`],
            ms: 0,
            rssKb: 0,
          };
        }
        toParent(r);
      }
    },
    () => rmSync(base, { recursive: true, force: true }),
  );
}

async function main(): Promise<void> {
  const total = Number(process.env.FUZZ_CASES ?? 1000);
  const first = Number(process.env.FUZZ_SEED ?? 1);
  const jobs = Number(process.env.FUZZ_JOBS ?? Math.max(2, cpus().length));
  const dir = mkdtempSync(join(tmpdir(), 'dmthin-sfuzz-'));
  makeStreamFixtures(dir);
  const queue = seedBatches(first, total, 10);
  const failures: string[] = [];
  const byKind = new Map<string, { cases: number; applied: number }>();
  const byTarget = new Map<string, { cases: number; applied: number }>();
  let slowest = { ms: 0, label: '' };
  let fattest = { kb: 0, label: '' };
  let done = 0;
  const t0 = Date.now();
  const report = (final = false): void => {
    const secs = (Date.now() - t0) / 1000;
    const eta = done > 0 ? ((total - done) * secs) / done : 0;
    process.stderr.write(
      `stream fuzz: ${done}/${total} cases, ${secs.toFixed(0)} s${final ? '' : `, about ${eta.toFixed(0)} s to go`}: ${failures.length} faults; slowest ${slowest.ms} ms, max RSS ${(fattest.kb / 1024).toFixed(0)} MiB\n`,
    );
  };
  const count = (m: Map<string, { cases: number; applied: number }>, k: string, applied: boolean): void => {
    const e = m.get(k) ?? { cases: 0, applied: 0 };
    e.cases++;
    if (applied) e.applied++;
    m.set(k, e);
  };
  await runWorkers<number[], StreamCaseResult>(
    fileURLToPath(import.meta.url),
    [dir],
    jobs,
    queue,
    (m) => {
      failures.push(...m.failures);
      // Said as found: a long run's faults are not kept until its end.
      for (const f of m.failures) process.stderr.write(`FAULT ${f}\n`);
      count(byKind, m.kind, m.applied);
      count(byTarget, m.target, m.applied);
      if (m.ms > slowest.ms) slowest = { ms: m.ms, label: m.label };
      if (m.rssKb > fattest.kb) fattest = { kb: m.rssKb, label: m.label };
      done++;
    },
    report,
  );
  rmSync(dir, { recursive: true, force: true });
  report(true);
  const table = (m: Map<string, { cases: number; applied: number }>): string =>
    [...m.entries()]
      .sort()
      .map(([k, v]) => `${k} ${v.cases} (${v.applied} applied)`)
      .join(', ');
  console.log(`by change: ${table(byKind)}`);
  console.log(`by target: ${table(byTarget)}`);
  console.log(`slowest case ${slowest.ms} ms (cap ${TIME_CAP_MS}): ${slowest.label}`);
  console.log(`largest max RSS ${(fattest.kb / 1024).toFixed(1)} MiB (cap ${RSS_CAP_KB / 1024}): ${fattest.label}`);
  for (const f of failures.slice(0, 50)) console.log(`FAULT ${f}`);
  console.log(`${done} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s with ${jobs} jobs: ${failures.length} faults`);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

const at = process.argv.indexOf('--worker');
if (at >= 0) worker(process.argv[at + 1]);
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
