/**
 * send/receive throughput, run by `npm run bench` after the LVM measurement
 * (skip with BENCH_SEND=0). A pool of 64 KiB blocks whose snapshot A maps a
 * 16 GiB device whole, and a later snapshot B that differs from A in 10 %
 * of its blocks, in scattered runs of 1-64 blocks (the changed blocks hold
 * random bytes; the rest of the data file is a hole, as only the changed
 * blocks are read). Timed, page cache warm, best of 3:
 *
 * - `cat` of a file holding exactly the changed bytes (the disk's speed for
 *   this amount of data);
 * - `dmthin send --base A --dev-id B` to a file, and `dmthin receive` of it
 *   into a copy of A's image;
 * - thin_delta (--verbose) + one dd per changed range, doing the same job
 *   the way the scripts built on them do.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { HEADER_SIZE, parseHeader } from '../../src/stream/format.js';
import { hex } from '../../src/stream/identity.js';
import { join } from 'node:path';
import { prng } from './pool-generator.js';

const BS = 65536;
const BLOCKS = 262144; // 16 GiB
const MiB = 2 ** 20;

export function sendBench(cli: string, dir: string): string {
  const meta = join(dir, 'send.meta');
  const data = join(dir, 'send.data');
  const changedFile = join(dir, 'send.changed');
  const xml = join(dir, 'send.xml');
  // Runs of changed blocks: ~10 % of the device, scattered.
  const rnd = prng(14);
  const runs: Array<[number, number]> = [];
  let changed = 0;
  for (let v = 0; v < BLOCKS; ) {
    v += Math.floor(rnd() * 585); // gaps of 292 on average between runs of 32.5: 10 %
    const len = Math.min(1 + Math.floor(rnd() * 64), BLOCKS - v);
    if (len <= 0 || v >= BLOCKS) break;
    runs.push([v, len]);
    changed += len;
    v += len;
  }
  if (!existsSync(meta) || !existsSync(data) || statSync(data).size !== (BLOCKS + changed) * BS) {
    // A maps v -> v; B maps the changed runs to new blocks after A's, the rest as A.
    let a = `    <range_mapping origin_begin="0" data_begin="0" length="${BLOCKS}" time="0"/>\n`;
    let b = '';
    let at = 0;
    let next = BLOCKS;
    for (const [v, len] of runs) {
      if (v > at) b += `    <range_mapping origin_begin="${at}" data_begin="${at}" length="${v - at}" time="0"/>\n`;
      b += `    <range_mapping origin_begin="${v}" data_begin="${next}" length="${len}" time="1"/>\n`;
      next += len;
      at = v + len;
    }
    if (at < BLOCKS) b += `    <range_mapping origin_begin="${at}" data_begin="${at}" length="${BLOCKS - at}" time="0"/>\n`;
    a = `  <device dev_id="1" mapped_blocks="${BLOCKS}" transaction="0" creation_time="0" snap_time="1">\n${a}  </device>\n`;
    b = `  <device dev_id="2" mapped_blocks="${BLOCKS}" transaction="1" creation_time="1" snap_time="1">\n${b}  </device>\n`;
    writeFileSync(
      xml,
      `<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="${BLOCKS + changed}">\n${a}${b}</superblock>\n`,
    );
    writeFileSync(meta, '');
    truncateSync(meta, 64 * MiB);
    if (spawnSync(process.execPath, [cli, 'restore', '-q', '-i', xml, '-o', meta]).status !== 0) throw new Error('send bench: restore failed');
    // The changed blocks' data: random bytes, after A's blocks (a hole).
    writeFileSync(data, '');
    truncateSync(data, (BLOCKS + changed) * BS);
    const fd = openSync(data, 'r+');
    const out = openSync(changedFile, 'w');
    const buf = Buffer.alloc(8 * MiB);
    for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((rnd() * 0xffffffff) >>> 0, i);
    for (let off = 0; off < changed * BS; off += buf.length) {
      const n = Math.min(buf.length, changed * BS - off);
      writeSync(fd, buf, 0, n, BLOCKS * BS + off);
      writeSync(out, buf, 0, n, off);
    }
    closeSync(fd);
    closeSync(out);
  }
  const time = (argv: string[], before?: () => void): number => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      before?.();
      const t0 = process.hrtime.bigint();
      const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr?.toString().slice(-300)}`);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return best;
  };
  const stream = join(dir, 'send.stream');
  const target = join(dir, 'send.target');
  const copy = join(dir, 'send.copy');
  spawnSync('cat', [changedFile, data], { stdio: 'ignore' }); // warm
  const cat = time(['sh', '-c', `cat "${changedFile}" > "${copy}"`]);
  // The same with the copy made durable: what receive must do before its state record may say it holds the snapshot.
  const catSync = time(['sh', '-c', `cat "${changedFile}" > "${copy}" && sync "${copy}"`]);
  // The stream file is removed before each run: replacing an existing file is fsynced first (io/output-file.ts), which cat is not.
  const sendT = time(
    [process.execPath, cli, 'send', '--metadata', meta, '--data', data, '--dev-id', '2', '--base', '1', '--size', `${BLOCKS * BS}`, '-o', stream],
    () => rmSync(stream, { force: true }),
  );
  // receive into A's image: a sparse 16 GiB file whose state record says it holds A (what a full receive of A leaves).
  const h = parseHeader(new Uint8Array(readFileSync(stream).subarray(0, HEADER_SIZE)), stream);
  const resetTarget = (): void => {
    rmSync(target, { force: true });
    writeFileSync(target, '');
    truncateSync(target, BLOCKS * BS);
    const state = { format: 1, pool: hex(h.pool), device_id: h.baseDeviceId, identity: hex(h.baseIdentity), block_size: BS, size: BLOCKS * BS, applied_at: '' };
    writeFileSync(`${target}.dmthin-state`, JSON.stringify(state));
  };
  const recvT = time([process.execPath, cli, 'receive', '-i', stream, '-o', target], resetTarget);
  // thin_delta + dd: the way the scripts do it.
  const tool = ['/usr/sbin/thin_delta', '/sbin/thin_delta'].find(existsSync);
  let tdd = NaN;
  if (tool) {
    // thin_delta 0.9's verbose XML: a <range begin left_data_begin right_data_begin length> per changed run.
    const script = join(dir, 'send-dd.sh');
    writeFileSync(
      script,
      `set -e\n"${tool}" --verbose --snap1 1 --snap2 2 "${meta}" | grep right_data_begin | sed 's/[^0-9]\\+/ /g' | ` +
        `while read v l r n; do dd if="${data}" of="${copy}" bs=64k skip=$r seek=$v count=$n conv=notrunc status=none; done\n`,
    );
    tdd = time(['sh', script]);
  }
  for (const f of [copy, stream, target, `${target}.dmthin-state`]) rmSync(f, { force: true });
  const mib = (changed * BS) / MiB;
  return [
    `send/receive: a 16 GiB thin device, ${changed} blocks (${mib.toFixed(0)} MiB, ${((100 * changed) / BLOCKS).toFixed(1)} %) changed in ${runs.length} runs`,
    `  cat of the changed bytes       ${cat.toFixed(2)} s  ${(mib / cat).toFixed(0)} MiB/s`,
    `  dmthin send --base             ${sendT.toFixed(2)} s  ${(mib / sendT).toFixed(0)} MiB/s  (${((100 * cat) / sendT).toFixed(0)} % of cat)`,
    `  cat + sync of the copy         ${catSync.toFixed(2)} s  ${(mib / catSync).toFixed(0)} MiB/s`,
    `  dmthin receive (synced)        ${recvT.toFixed(2)} s  ${(mib / recvT).toFixed(0)} MiB/s  (${((100 * cat) / recvT).toFixed(0)} % of cat, ${((100 * catSync) / recvT).toFixed(0)} % of cat + sync)`,
    `  ${tool ? `${tool} + dd per range` : 'thin_delta + dd: no thin_delta here'}  ${Number.isNaN(tdd) ? '' : `${tdd.toFixed(2)} s  ${(mib / tdd).toFixed(0)} MiB/s`}`,
  ].join('\n');
}
