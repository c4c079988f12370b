/**
 * `npm run bench`: times dmthin side by side with thin-provisioning-tools
 * 0.9 (C++) and 1.1 (Rust) on the same generated pools in the same run,
 * and prints wall-time ratios and peak RSS. Not a test: numbers go to
 * docs/PERFORMANCE.md by hand.
 *
 * BENCH_SIZES=S,M,L,D picks pools (default S,M); BENCH_OPS=check,dump,... the
 * operations (default all); BENCH_REPEAT=N takes the
 * best of N runs (default 3); BENCH_SHRINK=0 skips the shrink bench, BENCH_SHRINK_GIB=N sizes its data copy (default 1); BENCH_DIFF_GIB=N sizes the diff benchmark's filesystem (default 10); BENCH_DIR holds the generated pools (default .bench/).
 * BENCH_BASELINE=path/to/dmthin.cjs adds an earlier build of dmthin as a
 * column, for before/after comparisons of a change in the same run.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { metadataBytesFor, type PoolSpec, writePoolXml } from './pool-generator.js';
import { exportBench } from './export-bench.js';
import { lvmBench } from './lvm-bench.js';
import { sendBench } from './send-bench.js';
import { doctorBench } from './doctor-bench.js';
import { shrinkBench } from './shrink-bench.js';
import { diffBench } from './diff-bench.js';
import { containerdBench } from './containerd-bench.js';
import { must } from '../../src/errors.js';

// Compiled to dist/test/bench/: the project root is three levels up.
const root = resolve(new URL('.', import.meta.url).pathname, '..', '..', '..');
const cli = join(root, 'dist', 'dmthin.cjs');
const dir = resolve(process.env.BENCH_DIR ?? join(root, '.bench'));
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const sizes = (process.env.BENCH_SIZES ?? 'S,M').split(',');

/** Pools shaped like real ones: families of an origin and snapshots, fragmented data. */
const POOLS: Record<string, PoolSpec> = {
  S: { seed: 11, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 17000, rewriteShare: 0.3, runLength: 1.2, spareDataBlocks: 5000 },
  M: { seed: 42, origins: 3, snapshotsPerOrigin: 3, mappingsPerOrigin: 83000, rewriteShare: 0.3, runLength: 1.2, spareDataBlocks: 10000 },
  L: { seed: 77, origins: 6, snapshotsPerOrigin: 3, mappingsPerOrigin: 417000, rewriteShare: 0.3, runLength: 1.2, spareDataBlocks: 50000 },
  // Two devices of 5 M mappings each, the second a snapshot with a tenth rewritten: `delta --snap1 0
  // --snap2 1` compares all 10 M mappings (on L it compares 0.8 M of them and Node's start-up is half the time).
  D: { seed: 5, origins: 1, snapshotsPerOrigin: 1, mappingsPerOrigin: 5_000_000, rewriteShare: 0.1, runLength: 1.2, spareDataBlocks: 50000 },
};

const LS_FIELDS = 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS';
const RMAP_REGION = '0..200000';
// rmap-all: a region covering the whole data device (every mapping of the pool reported and sorted).
const OPS = (process.env.BENCH_OPS ?? 'check,dump,restore,repair,ls,delta,rmap,rmap-all').split(',');

interface Tool {
  name: string;
  dir?: string;
  /** A dmthin build: its dmthin.cjs. */
  cli?: string;
}
const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
const TOOLS: Tool[] = [
  { name: 'tpt-0.9', dir: ['/usr/sbin', '/sbin'].find((d) => existsSync(join(d, 'thin_check'))) },
  { name: 'tpt-1.1', dir: existsSync('/opt/tpt-1.1/thin_check') ? '/opt/tpt-1.1' : undefined },
  ...(baseline ? [{ name: 'dmthin-before', cli: baseline }] : []),
  { name: 'dmthin', cli },
];
const haveTime = existsSync('/usr/bin/time');

interface Measure {
  seconds: number;
  rssMiB: number;
}

/** Best of `repeat` runs; `reset` puts the output back as it was before each (every tool starts from the same state). */
function measure(cmd: string[], reset: () => void): Measure {
  let best: Measure | undefined;
  for (let i = 0; i < repeat; i++) {
    reset();
    const argv = haveTime ? ['/usr/bin/time', '-f', '%e %M', ...cmd] : cmd;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 2 ** 31 - 1 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-500)}`);
    const last = r.stderr.toString().trim().split('\n').pop() ?? '';
    const m = /^([\d.]+) (\d+)$/.exec(last);
    const rss = m ? Number(m[2]) / 1024 : NaN;
    if (!best || wall < best.seconds) best = { seconds: wall, rssMiB: rss };
  }
  if (!best) throw new Error(`BENCH_REPEAT=${repeat}: give at least 1 run`);
  return best;
}

function commandFor(tool: Tool, op: string, meta: string, xml: string, out: string, nrData: number): string[] {
  const whole = `0..${nrData}`;
  if (tool.cli) {
    const cli = tool.cli;
    switch (op) {
      case 'check':
        return [process.execPath, cli, 'check', '-q', meta];
      case 'dump':
        return [process.execPath, cli, 'dump', '-o', out, meta];
      case 'restore':
        return [process.execPath, cli, 'restore', '-q', '-i', xml, '-o', out];
      case 'repair':
        return [process.execPath, cli, 'repair', '-q', '-i', meta, '-o', out];
      case 'ls':
        return [process.execPath, cli, 'ls', '-f', LS_FIELDS, meta];
      case 'delta':
        return [process.execPath, cli, 'delta', '--snap1', '0', '--snap2', '1', meta];
      case 'rmap':
        return [process.execPath, cli, 'rmap', '--region', RMAP_REGION, meta];
      case 'rmap-all':
        return [process.execPath, cli, 'rmap', '--region', whole, meta];
    }
  }
  const dir = must(tool.dir, `the directory of ${tool.name}`);
  const bin = (t: string): string => join(dir, t);
  switch (op) {
    case 'check':
      return [bin('thin_check'), '-q', meta];
    case 'dump':
      return [bin('thin_dump'), '-o', out, meta];
    case 'restore':
      return [bin('thin_restore'), '-q', '-i', xml, '-o', out];
    case 'repair':
      return [bin('thin_repair'), '-i', meta, '-o', out];
    case 'ls':
      return [bin('thin_ls'), '-o', LS_FIELDS, meta];
    case 'delta':
      return [bin('thin_delta'), '--snap1', '0', '--snap2', '1', meta];
    case 'rmap':
      return [bin('thin_rmap'), '--region', RMAP_REGION, meta];
    case 'rmap-all':
      return [bin('thin_rmap'), '--region', whole, meta];
  }
  throw new Error(op);
}

function prepare(size: string): { xml: string; meta: string; mappings: number; metaBytes: number; nrData: number } {
  mkdirSync(dir, { recursive: true });
  const spec = POOLS[size];
  const xml = join(dir, `${size}.xml`);
  const info = join(dir, `${size}.json`);
  const key = JSON.stringify(spec);
  let mappings: number;
  if (existsSync(info) && JSON.parse(readFileSync(info, 'utf8')).key === key && existsSync(xml)) {
    mappings = JSON.parse(readFileSync(info, 'utf8')).mappings;
  } else {
    process.stderr.write(`generating pool ${size}...\n`);
    mappings = writePoolXml(xml, spec).mappings;
    writeFileSync(info, JSON.stringify({ key, mappings }));
  }
  const metaBytes = metadataBytesFor(mappings);
  // The metadata that check and dump read is written by the newest oracle
  // when it is there (a neutral layout), else by dmthin.
  const meta = join(dir, `${size}.meta`);
  if (!existsSync(meta) || statSync(meta).mtimeMs < statSync(xml).mtimeMs) {
    rmSync(meta, { force: true });
    writeFileSync(meta, '');
    truncateSync(meta, metaBytes);
    const t11 = TOOLS[1].dir;
    const cmd = t11 ? [join(t11, 'thin_restore'), '-q', '-i', xml, '-o', meta] : [process.execPath, cli, 'restore', '-q', '-i', xml, '-o', meta];
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('could not build the benchmark metadata');
  }
  // The data device's size, from the XML's superblock line (the generator writes it first).
  const nrData = Number(/nr_data_blocks="(\d+)"/.exec(firstLine(xml))?.[1] ?? NaN);
  return { xml, meta, mappings, metaBytes, nrData };
}

/** The first 4 KiB of a file as text (an XML's superblock line), without reading the rest. */
function firstLine(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4096);
    return b.subarray(0, readSync(fd, b, 0, b.length, 0)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function main(): void {
  if (!existsSync(cli)) throw new Error(`${cli} missing: npm run build`);
  const missing = TOOLS.filter((t) => !t.cli && !t.dir).map((t) => t.name);
  if (missing.length)
    process.stderr.write(`*** oracles missing: ${missing.join(', ')} (apt-get install thin-provisioning-tools; ../shared/tools/install-tpt11) ***\n`);
  if (!haveTime) process.stderr.write('*** /usr/bin/time missing (apt-get install time): peak RSS not measured ***\n');
  const rows: string[] = [];
  const header = `| pool | op | ${TOOLS.map((t) => `${t.name} s (MiB)`).join(' | ')} | dmthin / fastest oracle |${baseline ? ' after / before |' : ''}`;
  rows.push(header, `|${'---|'.repeat(TOOLS.length + 3 + (baseline ? 1 : 0))}`);
  for (const size of sizes) {
    const p = prepare(size);
    const xmlMiB = statSync(p.xml).size / 2 ** 20;
    process.stderr.write(`pool ${size}: ${p.mappings} mappings, XML ${xmlMiB.toFixed(0)} MiB, metadata ${(p.metaBytes / 2 ** 20).toFixed(0)} MiB\n`);
    for (const op of OPS) {
      const cells: string[] = [];
      let fastest = Infinity;
      let ours = NaN;
      let before = NaN;
      for (const tool of TOOLS) {
        if (!tool.cli && !tool.dir) {
          cells.push('n/a');
          continue;
        }
        const out = join(dir, `${size}.${tool.name}.${op}.out`);
        // restore and repair write into a metadata file that exists (the oracles need one); dump creates its
        // output. Before every run, not once: dmthin replaces an existing file by rename after an fsync.
        const reset = (): void => {
          rmSync(out, { force: true });
          if (op === 'restore' || op === 'repair') {
            writeFileSync(out, '');
            truncateSync(out, p.metaBytes);
          }
        };
        const m = measure(commandFor(tool, op, p.meta, p.xml, out, p.nrData), reset);
        rmSync(out, { force: true });
        cells.push(`${m.seconds.toFixed(2)} (${Number.isNaN(m.rssMiB) ? '?' : m.rssMiB.toFixed(0)})`);
        if (tool.name === 'dmthin') ours = m.seconds;
        else if (tool.cli) before = m.seconds;
        else fastest = Math.min(fastest, m.seconds);
      }
      const ratio = Number.isFinite(fastest) ? (ours / fastest).toFixed(2) : 'n/a';
      const change = baseline ? ` ${(ours / before).toFixed(2)} |` : '';
      const row = `| ${size} (${(p.mappings / 1e6).toFixed(2)} M) | ${op} | ${cells.join(' | ')} | ${ratio} |${change}`;
      rows.push(row);
      process.stderr.write(`${row}\n`);
    }
  }
  process.stdout.write(`\nbest of ${repeat} runs, wall seconds (peak RSS MiB); ratio < 1 means dmthin is faster\n${rows.join('\n')}\n`);
  if (process.env.BENCH_EXPORT !== '0' || process.env.BENCH_LVM !== '0') process.stdout.write(`\n${exportBench(cli, dir)}\n`);
  if (process.env.BENCH_EXPORT !== '0') process.stdout.write(`\n${exportBench(cli, dir, Number(process.env.BENCH_EXPORT_GIB ?? 4))}\n`);
  if (process.env.BENCH_LVM !== '0') process.stdout.write(`\n${lvmBench(cli, dir, join(dir, 'export.meta'), join(dir, 'export.data'), 262144 * 65536)}\n`);
  if (process.env.BENCH_SEND !== '0') process.stdout.write(`\n${sendBench(cli, dir)}\n`);
  if (process.env.BENCH_DOCTOR !== '0') {
    const pools = sizes.map((size) => ({ size, ...prepare(size) }));
    process.stdout.write(`\n${doctorBench(cli, dir, pools, repeat)}\n`);
  }
  if (process.env.BENCH_DIFF !== '0') process.stdout.write(`\n${diffBench(cli, dir, repeat)}\n`);
  if (process.env.BENCH_CONTAINERD !== '0') process.stdout.write(`\n${containerdBench(cli, dir, repeat)}\n`);
  if (process.env.BENCH_SHRINK !== '0') {
    const pools = sizes.map((size) => ({ size, ...prepare(size) }));
    process.stdout.write(`\n${shrinkBench(cli, dir, pools, repeat)}\n`);
  }
}

main();
