/**
 * dmthin shrink in `npm run bench` (issue 25 item 5; skip with
 * BENCH_SHRINK=0). Two measures:
 *  - data moved per second against `cat` of the same bytes: a pool whose
 *    upper quarter holds BENCH_SHRINK_GIB GiB (default 1) of mapped data,
 *    shrunk to half, so that all of it moves into the free second quarter;
 *  - the metadata rewrite against restore's time on the bench pools: each
 *    pool shrunk to just past its last used block (its spare blocks cut
 *    off, nothing moves, every mapping rewritten), the data a sparse file.
 * The shrink times are whole commands: the check and the plan included.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, fsyncSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from './pool-generator.js';
import type { BenchPool } from './doctor-bench.js';

const BLOCK = 65536;

function timed(cmd: string[], reset: () => void, repeat: number): number {
  return timedRun(cmd, reset, repeat).seconds;
}

/** The best wall time of `repeat` runs, and what that run printed. */
function timedRun(cmd: string[], reset: () => void, repeat: number): { seconds: number; stdout: string } {
  let best = { seconds: Infinity, stdout: '' };
  for (let i = 0; i < repeat; i++) {
    reset();
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-500)}`);
    if (wall < best.seconds) best = { seconds: wall, stdout: r.stdout.toString() };
  }
  return best;
}

/** Fills [from, from + bytes) of `path` with pseudo-random bytes (incompressible, not all zero), synced. */
function fillRandom(path: string, from: number, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    const rnd = prng(25);
    const buf = new Uint32Array((8 << 20) / 4);
    for (let done = 0; done < bytes; done += buf.byteLength) {
      for (let i = 0; i < buf.length; i++) buf[i] = (rnd() * 4294967296) >>> 0;
      writeSync(fd, new Uint8Array(buf.buffer), 0, Math.min(buf.byteLength, bytes - done), from + done);
    }
    // On disk before the clock starts: the measured command's fsync must not flush these too.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function dataRate(cli: string, dir: string, repeat: number): string {
  const gib = Number(process.env.BENCH_SHRINK_GIB ?? 1);
  const moved = Math.round((gib * 2 ** 30) / BLOCK);
  const nr = moved * 4;
  const xml = join(dir, 'shrink-data.xml');
  writeFileSync(
    xml,
    `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${nr}">\n` +
      `  <device dev_id="1" mapped_blocks="${2 * moved}" transaction="0" creation_time="0" snap_time="0">\n` +
      `    <range_mapping origin_begin="0" data_begin="0" length="${moved}" time="0"/>\n` +
      `    <range_mapping origin_begin="${moved}" data_begin="${3 * moved}" length="${moved}" time="0"/>\n` +
      '  </device>\n</superblock>\n',
  );
  const pristineMeta = join(dir, 'shrink-data.pristine.meta');
  writeFileSync(pristineMeta, '');
  truncateSync(pristineMeta, 64 << 20);
  const r = spawnSync(process.execPath, [cli, 'restore', '-q', '-i', xml, '-o', pristineMeta]);
  if (r.status !== 0) throw new Error(`restore for the shrink bench failed: ${r.stderr}`);
  const meta = join(dir, 'shrink-data.meta');
  const data = join(dir, 'shrink-data.data');
  const bytes = moved * BLOCK;
  const reset = (): void => {
    copyFileSync(pristineMeta, meta);
    rmSync(data, { force: true });
    writeFileSync(data, '');
    truncateSync(data, nr * BLOCK);
    // The destinations written before, as a pool's free blocks were once: a copy into holes measures the file system's allocation.
    fillRandom(data, bytes, bytes);
    fillRandom(data, 3 * bytes, bytes);
  };
  const run = timedRun([process.execPath, cli, 'shrink', '--json', '--metadata', meta, '--data', data, '--size', String(2 * bytes)], reset, repeat);
  const shrink = run.seconds;
  // The copy alone (its reads, writes and sync), as shrink --json times it: what cat and dd do.
  const phases = JSON.parse(run.stdout).phase_seconds ?? {};
  const copy = Number(phases.copy ?? Number.NaN);
  const rest = `the rest: check and plan ${Number(phases.prepare).toFixed(2)} s, metadata ${Number(phases.metadata).toFixed(2)} s, cut ${Number(phases.cut ?? 0).toFixed(2)} s, start-up and exit ${(shrink - copy - Number(phases.prepare) - Number(phases.metadata) - Number(phases.cut ?? 0)).toFixed(2)} s`;
  // cat of the same bytes, from a file holding just them, over a file as large (written and synced first, as the destinations are).
  const src = join(dir, 'shrink-data.cat-src');
  const dst = join(dir, 'shrink-data.cat-dst');
  for (const f of [src, dst]) {
    writeFileSync(f, '');
    truncateSync(f, bytes);
    fillRandom(f, 0, bytes);
  }
  const cat = timed(['sh', '-c', `cat "${src}" 1<> "${dst}" && sync "${dst}"`], () => {}, repeat);
  // coreutils 9's cat copies with copy_file_range, in the kernel, which Node cannot ask for a byte range; dd copies through
  // read and write as shrink does, so both are shown.
  const dd = timed(['sh', '-c', `dd if="${src}" of="${dst}" bs=16M conv=notrunc status=none && sync "${dst}"`], () => {}, repeat);
  for (const f of [xml, pristineMeta, meta, data, src, dst]) rmSync(f, { force: true });
  const mib = bytes / 2 ** 20;
  return [
    `shrink: data moved against cat of the same bytes (${mib.toFixed(0)} MiB, best of ${repeat}; the whole command includes its check, plan, metadata and the cut; its copy is the blocks read, written and synced)`,
    '| shrink s | copy s | copy MiB/s | cat+sync s | cat MiB/s | copy / cat | shrink / cat | dd bs=16M+sync s | copy / dd |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${shrink.toFixed(2)} | ${copy.toFixed(2)} | ${(mib / copy).toFixed(0)} | ${cat.toFixed(2)} | ${(mib / cat).toFixed(0)} | ${(cat / copy).toFixed(2)} | ${(cat / shrink).toFixed(2)} | ${dd.toFixed(2)} | ${(dd / copy).toFixed(2)} |`,
    rest,
  ].join('\n');
}

function metadataRewrite(cli: string, dir: string, pools: ReadonlyArray<BenchPool & { xml: string; nrData: number }>, repeat: number): string {
  const rows = ['| pool | restore s | shrink s | shrink / restore |', '|---|---|---|---|'];
  for (const p of pools) {
    const out = join(dir, `${p.size}.shrink-bench.restore.out`);
    const restore = timed(
      [process.execPath, cli, 'restore', '-q', '-i', p.xml, '-o', out],
      () => {
        rmSync(out, { force: true });
        writeFileSync(out, '');
        truncateSync(out, p.metaBytes);
      },
      repeat,
    );
    rmSync(out, { force: true });
    const meta = join(dir, `${p.size}.shrink-bench.meta`);
    const data = join(dir, `${p.size}.shrink-bench.data`);
    const resetPool = (): void => {
      copyFileSync(p.meta, meta);
      rmSync(data, { force: true });
      writeFileSync(data, '');
      truncateSync(data, p.nrData * BLOCK);
    };
    resetPool();
    // Past the generator's used blocks come only its spare ones: shrinking to just after the last used block moves nothing.
    const probe = spawnSync(
      process.execPath,
      [cli, 'shrink', '--metadata', meta, '--data', data, '--size', String((p.nrData - 1) * BLOCK), '--dry-run', '--json'],
      {
        encoding: 'utf8',
      },
    );
    const min = probe.status === 0 ? (JSON.parse(probe.stdout).last_used_block as number) + 1 : Number.NaN;
    let cell: string;
    let ratio = 'n/a';
    if (!(min > 0)) cell = `refused: ${probe.stderr.trim()}`;
    else {
      try {
        const s = timed([process.execPath, cli, 'shrink', '-q', '--metadata', meta, '--data', data, '--size', String(min * BLOCK)], resetPool, repeat);
        cell = s.toFixed(2);
        ratio = (s / restore).toFixed(2);
      } catch (e) {
        cell = (e as Error).message.split('\n')[0];
      }
    }
    rmSync(meta, { force: true });
    rmSync(data, { force: true });
    const row = `| ${p.size} (${(p.mappings / 1e6).toFixed(2)} M) | ${restore.toFixed(2)} | ${cell} | ${ratio} |`;
    rows.push(row);
    process.stderr.write(`${row}\n`);
  }
  return `shrink: metadata rewrite (to just past the last used block, nothing moved) against restore, best of ${repeat} runs, wall seconds\n${rows.join('\n')}`;
}

export function shrinkBench(cli: string, dir: string, pools: ReadonlyArray<BenchPool & { xml: string; nrData: number }>, repeat: number): string {
  return `${dataRate(cli, dir, repeat)}\n\n${metadataRewrite(cli, dir, pools, repeat)}`;
}
