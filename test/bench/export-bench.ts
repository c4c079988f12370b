/**
 * Export throughput, run by `npm run bench` after the oracle table (skip
 * with BENCH_EXPORT=0): a 1 GiB data file of real (non-zero) bytes, a thin
 * device of 16 GiB mapping 75 % of the data blocks in fragmented runs;
 * `dmthin export` of it against `cat` of the data file, both to a file on
 * the same disk, page cache warm.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from './pool-generator.js';

/**
 * `gib` scales the data file (1 GiB: the files the LVM bench reuses). At 1 GiB
 * the copy takes about as long as Node's start-up (~0.15 s here), so the
 * ratio to `cat` (which starts in a millisecond) says more about start-up
 * than about copying; the larger run says how fast the copy is.
 */
export function exportBench(cli: string, dir: string, gib = 1): string {
  const bs = 64 * 1024;
  const nrData = 16384 * gib;
  const name = gib === 1 ? 'export' : `export-${gib}g`;
  const data = join(dir, `${name}.data`);
  const xml = join(dir, `${name}.xml`);
  const meta = join(dir, `${name}.meta`);
  if (!existsSync(data) || statSync(data).size !== nrData * bs) {
    const fd = openSync(data, 'w');
    const buf = Buffer.alloc(8 << 20);
    const rnd = prng(5);
    for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((rnd() * 0xffffffff) >>> 0, i);
    for (let off = 0; off < nrData * bs; off += buf.length) writeSync(fd, buf, 0, buf.length, off);
    closeSync(fd);
  }
  // A device mapping 12288 data blocks a GiB of data: the data is cut into
  // runs of 1..32 blocks, shuffled, and laid out with gaps.
  const rnd = prng(9);
  const chunks: Array<[number, number]> = [];
  const toMap = 12288 * gib;
  for (let d = 0; d < toMap; ) {
    const len = Math.min(1 + Math.floor(rnd() * 32), toMap - d);
    chunks.push([d * 1 + Math.floor(d / 3), len]); // spread over the file
    d += len;
  }
  for (let i = chunks.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [chunks[i], chunks[j]] = [chunks[j], chunks[i]];
  }
  let lines = '';
  let v = 0;
  let mapped = 0;
  for (const [d, len] of chunks) {
    lines += `    <range_mapping origin_begin="${v}" data_begin="${d}" length="${len}" time="0"/>\n`;
    v += len + Math.floor(rnd() * 8);
    mapped += len;
  }
  writeFileSync(
    xml,
    `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="${nrData}">\n  <device dev_id="1" mapped_blocks="${mapped}" transaction="0" creation_time="0" snap_time="0">\n${lines}  </device>\n</superblock>\n`,
  );
  writeFileSync(meta, '');
  truncateSync(meta, (8 << 20) * gib);
  if (spawnSync(process.execPath, [cli, 'restore', '-q', '-i', xml, '-o', meta]).status !== 0) throw new Error('export bench: restore failed');
  const out = join(dir, `${name}.out`);
  const time = (argv: string[]): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      rmSync(out, { force: true });
      // Untimed: the last run's gigabytes written back first, so that no run pays for the one before.
      spawnSync('sync');
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} failed`);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return best;
  };
  spawnSync('cat', [data], { stdio: 'ignore' }); // warm the page cache
  const cat = time(['sh', '-c', `cat "${data}" > "${out}"`]);
  const deviceBlocks = 262144 * gib; // 16 GiB a GiB of data: mapped runs at the front, the rest a hole
  const exp = time([process.execPath, cli, 'export', '--metadata', meta, '--data', data, '--dev-id', '1', '--size', `${deviceBlocks * bs}`, '-o', out]);
  rmSync(out, { force: true });
  const mib = (b: number): number => b / 2 ** 20;
  const deviceMiB = mib(deviceBlocks * bs);
  const mappedMiB = mib(mapped * bs);
  return [
    `export: a ${deviceMiB.toFixed(0)} MiB thin device with ${mappedMiB.toFixed(0)} MiB mapped in fragmented runs, from a ${1024 * gib} MiB data file`,
    `  cat data file      ${cat.toFixed(2)} s  ${((1024 * gib) / cat).toFixed(0)} MiB/s`,
    `  dmthin export      ${exp.toFixed(2)} s  ${(deviceMiB / exp).toFixed(0)} MiB/s of device, ${(mappedMiB / exp).toFixed(0)} MiB/s of mapped data (${((mappedMiB / exp / ((1024 * gib) / cat)) * 100).toFixed(0)} % of cat)`,
  ].join('\n');
}
