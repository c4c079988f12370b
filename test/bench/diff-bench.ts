/**
 * `dmthin diff` on a pool whose thin device holds a 10 GiB ext4
 * (BENCH_DIFF_GIB) and a snapshot of it with about 1 % rewritten (issue
 * 24 item 5), against reading both devices whole (what any file-level
 * comparison of the two filesystems without the pool's delta must do:
 * `dmthin export` of each to a pipe). Run by `npm run bench` after the
 * oracle table; skip with BENCH_DIFF=0. Needs e2fsprogs (mke2fs, debugfs).
 *
 * The pool is built from two images: every 64 KiB block of the origin's
 * image that is not all zeros is a mapping; the snapshot shares them but
 * for the blocks that differ, which get data blocks of their own, as the
 * kernel's copy-on-write would give them.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, differingRanges, mke2fs, mkext4, touch } from '../fs/images.js';

const BS = 65536;

interface DiffPool {
  meta: string;
  data: string;
  gib: number;
  changedBytes: number;
}

/** Reads `len` bytes at `pos` of an open file. */
function readAt(fd: number, buf: Buffer, pos: number): Buffer {
  const n = readSync(fd, buf, 0, buf.length, pos);
  return buf.subarray(0, n);
}

function build(cli: string, dir: string, gib: number): DiffPool {
  const base = join(dir, `diff-${gib}g`);
  const meta = `${base}.meta`;
  const data = `${base}.data`;
  const facts = `${base}.facts`;
  if (existsSync(facts)) return JSON.parse(readFileSync(facts, 'utf8'));
  mkdirSync(dir, { recursive: true });
  // 3000 small files in 30 directories; then 30 of them rewritten to 350 KiB per GiB of filesystem (about 1 %).
  const tree = `${base}.tree`;
  rmSync(tree, { recursive: true, force: true });
  for (let d = 0; d < 30; d++) {
    mkdirSync(`${tree}/dir${d}`, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(`${tree}/dir${d}/file${f}`, `file ${d}/${f}\n`.repeat(200));
  }
  const before = `${base}.before.img`;
  const after = `${base}.after.img`;
  mkext4(before, tree, `${gib}G`, ['-b', '4096']);
  spawnSync('cp', ['--sparse=always', before, after]);
  const big = `${base}.big`;
  writeFileSync(big, Buffer.alloc(350 * 1024 * gib, 0x5a));
  const edits: string[] = [];
  for (let d = 0; d < 30; d++) edits.push(`rm /dir${d}/file${d}`, `write ${big} /dir${d}/file${d}`);
  debugfs(after, edits, true);
  touch(
    after,
    Array.from({ length: 30 }, (_, d) => `/dir${d}`),
  );
  const changed = new Set<number>();
  let changedBytes = 0;
  for (const r of differingRanges(before, after, BS)) {
    changedBytes += r.length;
    for (let v = r.offset / BS; v < (r.offset + r.length) / BS; v++) changed.add(v);
  }
  // The data file: the origin's non-zero blocks, then the snapshot's own copies of the changed ones.
  const fa = openSync(before, 'r');
  const fb = openSync(after, 'r');
  const fd = openSync(data, 'w');
  const buf = Buffer.alloc(BS);
  const origin: Array<[number, number]> = [];
  const snap: Array<[number, number]> = [];
  let next = 0;
  const nrVirtual = statSync(before).size / BS;
  for (let v = 0; v < nrVirtual; v++) {
    const b = readAt(fa, buf, v * BS);
    if (b.some((x) => x !== 0)) {
      writeSync(fd, b, 0, b.length, next * BS);
      origin.push([v, next++]);
    }
  }
  const originOf = new Map(origin);
  for (let v = 0; v < nrVirtual; v++) {
    if (!changed.has(v)) {
      const d = originOf.get(v);
      if (d !== undefined) snap.push([v, d]);
      continue;
    }
    const b = readAt(fb, buf, v * BS);
    writeSync(fd, b, 0, b.length, next * BS);
    snap.push([v, next++]);
  }
  closeSync(fa);
  closeSync(fb);
  closeSync(fd);
  const device = (id: number, maps: Array<[number, number]>, time: number) =>
    `  <device dev_id="${id}" mapped_blocks="${maps.length}" transaction="0" creation_time="0" snap_time="${time}">\n` +
    maps.map(([v, d]) => `    <single_mapping origin_block="${v}" data_block="${d}" time="${time}"/>\n`).join('') +
    '  </device>\n';
  const xml = `${base}.xml`;
  writeFileSync(
    xml,
    `<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${next}">\n${device(1, origin, 0)}${device(2, snap, 1)}</superblock>\n`,
  );
  writeFileSync(meta, Buffer.alloc(32 << 20));
  const r = spawnSync(process.execPath, [cli, 'restore', '-q', '-i', xml, '-o', meta], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('could not build the diff benchmark pool');
  for (const f of [before, after, big, xml]) rmSync(f, { force: true });
  rmSync(tree, { recursive: true, force: true });
  const pool: DiffPool = { meta, data, gib, changedBytes };
  writeFileSync(facts, JSON.stringify(pool));
  return pool;
}

function timed(cmd: string[], repeat: number): { seconds: number; stdout: string } {
  let best = Infinity;
  let stdout = '';
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 2 ** 31 - 1 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-500)}`);
    best = Math.min(best, wall);
    stdout = r.stdout.toString();
  }
  return { seconds: best, stdout };
}

/** Reads a device whole, as bytes through a pipe; returns the seconds and the bytes. */
function readWhole(cli: string, p: DiffPool, id: number): { seconds: number; bytes: number } {
  const t0 = process.hrtime.bigint();
  const child = spawnSync(
    'sh',
    ['-c', `"${process.execPath}" "${cli}" export --metadata "${p.meta}" --data "${p.data}" --dev-id ${id} --size ${p.gib}G -o - | wc -c`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (child.status !== 0) throw new Error(`export of thin ${id} failed: ${child.stderr.toString().slice(-500)}`);
  return { seconds, bytes: Number(child.stdout.toString().trim()) };
}

export function diffBench(cli: string, dir: string, repeat: number): string {
  if (!mke2fs) return 'diff: skipped, e2fsprogs (mke2fs, debugfs) is not installed';
  const gib = Number(process.env.BENCH_DIFF_GIB ?? 10);
  const p = build(cli, dir, gib);
  const d = timed([process.execPath, cli, 'diff', p.meta, '--data', p.data, '--snap1', '1', '--snap2', '2', '--json'], repeat);
  const j = JSON.parse(d.stdout);
  const a = readWhole(cli, p, 1);
  const b = readWhole(cli, p, 2);
  const whole = a.seconds + b.seconds;
  const rows = [
    '| ext4 | changed (mapped differently) | changes | diff s | diff reads | both devices read whole s | whole reads | diff / whole |',
    '|---|---|---|---|---|---|---|---|',
    `| ${gib} GiB | ${(p.changedBytes / 2 ** 20).toFixed(1)} MiB | ${j.changes.length} | ${d.seconds.toFixed(2)} | ${(j.bytes_read / 2 ** 20).toFixed(1)} MiB | ${whole.toFixed(2)} | ${((a.bytes + b.bytes) / 2 ** 30).toFixed(1)} GiB | ${(d.seconds / whole).toFixed(3)} |`,
  ];
  process.stderr.write(`${rows[2]}\n`);
  return `diff of a snapshot against its origin, files, best of ${repeat} runs (the whole reads once), wall seconds\n${rows.join('\n')}`;
}
