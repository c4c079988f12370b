/**
 * send and receive on a pool restored from XML: an origin (1), a snapshot
 * of it (2), and a later snapshot (3) that rewrote, added and dropped
 * blocks. Every applied target must equal `dmthin export` of the device it
 * claims to hold; every damaged, truncated, mis-based or interrupted
 * stream must leave the target and its state as they were.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cliPath, dmthin } from '../support/cli.js';
import { emptyFile, scratch } from '../support/env.js';
import { parseHeader } from '../../src/stream/format.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const BS = 65536;
const SIZE = String(128 * BS);
let meta = '';
let data = '';
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const image = (dev: number): string => {
  const out = tmp.path(`dev${dev}.img`);
  expect(dmthin('export', '--metadata', meta, '--data', data, '--dev-id', String(dev), '--size', SIZE, '-o', out).code).toBe(0);
  return out;
};
const sendTo = (name: string, ...args: string[]): { path: string; report: Record<string, number | string | null> } => {
  const path = tmp.path(name);
  const r = dmthin('send', '--metadata', meta, '--data', data, '--size', SIZE, ...args, '-o', path, '--json');
  expect(r.code, r.stderr).toBe(0);
  return { path, report: JSON.parse(r.stdout) };
};

beforeAll(() => {
  const range = (v: number, d: number, n: number, t: number): string =>
    `    <range_mapping origin_begin="${v}" data_begin="${d}" length="${n}" time="${t}"/>\n`;
  const xml =
    '<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="512">\n' +
    `  <device dev_id="1" mapped_blocks="100" transaction="0" creation_time="0" snap_time="2">\n${range(0, 0, 100, 0)}  </device>\n` +
    `  <device dev_id="2" mapped_blocks="100" transaction="1" creation_time="1" snap_time="1">\n${range(0, 0, 100, 0)}  </device>\n` +
    // 3: 0..49 shared, 50..59 rewritten, 60..69 dropped, 70..99 shared, 100..109 new.
    `  <device dev_id="3" mapped_blocks="100" transaction="2" creation_time="2" snap_time="2">\n${range(0, 0, 50, 0)}${range(50, 200, 10, 2)}${range(70, 70, 30, 0)}${range(100, 300, 10, 2)}  </device>\n` +
    '</superblock>\n';
  writeFileSync(tmp.path('pool.xml'), xml);
  meta = emptyFile(tmp.path('pool.meta'), 4 << 20);
  expect(dmthin('restore', '-i', tmp.path('pool.xml'), '-o', meta).code).toBe(0);
  // Data blocks of distinct bytes.
  const d = new Uint8Array(512 * BS);
  for (let b = 0; b < 512; b++) d.fill((b * 7 + 3) & 255, b * BS, (b + 1) * BS).set([b & 255, b >> 8], b * BS);
  data = tmp.path('pool.data');
  writeFileSync(data, d);
});

describe('send and receive', () => {
  it('a full stream, then an incremental one, leave the target equal to each snapshot in turn', () => {
    const full = sendTo('full.stream', '--dev-id', '2');
    expect(full.report).toMatchObject({ device_id: 2, base_device_id: null, data_blocks: 100, zero_blocks: 0 });
    const target = tmp.path('backup.img');
    const r1 = dmthin('receive', '-i', full.path, '-o', target, '--json');
    expect(r1.code, r1.stderr).toBe(0);
    expect(sha(target)).toBe(sha(image(2)));
    const inc = sendTo('inc.stream', '--dev-id', '3', '--base', '2');
    // Only what differs: 10 rewritten + 10 new blocks of data, 10 dropped.
    expect(inc.report).toMatchObject({ device_id: 3, base_device_id: 2, data_blocks: 20, zero_blocks: 10 });
    expect(readFileSync(inc.path).length).toBeLessThan(21 * BS + 1024);
    const r2 = dmthin('receive', '-i', inc.path, '-o', target, '--json');
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ incremental: true, data_blocks: 20, zero_blocks: 10, resumed: false, discarded_as: 'holes' });
    expect(sha(target)).toBe(sha(image(3)));
    // The 10 dropped blocks are holes again: 100 blocks held, not 110 (a few KiB of extent blocks allowed).
    expect(statSync(target).blocks * 512).toBeGreaterThanOrEqual(100 * BS);
    expect(statSync(target).blocks * 512).toBeLessThan(101 * BS);
    expect(JSON.parse(readFileSync(`${target}.dmthin-state`, 'utf8'))).toMatchObject({ device_id: 3, identity: inc.report.identity });
    expect(JSON.parse(readFileSync(`${target}.dmthin-state`, 'utf8')).applying).toBeUndefined();
  });

  it('refuses a --size the device maps past, naming the block, and leaves no stream behind', () => {
    const out = tmp.path('short.stream');
    const r = dmthin('send', '--metadata', meta, '--data', data, '--dev-id', '3', '--size', String(64 * BS), '-o', out);
    expect(r).toMatchObject({ code: 1, stderr: expect.stringMatching(/thin device 3 maps block \d+, past the size asked for \(4194304 bytes, 64 blocks\)/) });
    expect(existsSync(out)).toBe(false);
  });

  it('the header says what the stream carries', () => {
    const inc = sendTo('inc2.stream', '--dev-id', '3', '--base', '2');
    const h = parseHeader(new Uint8Array(readFileSync(inc.path)), 'inc2.stream');
    expect(h).toMatchObject({ incremental: true, blockSize: BS, virtualSize: 128 * BS, deviceId: 3, baseDeviceId: 2 });
    expect(Buffer.from(h.identity).toString('hex')).toBe(inc.report.identity);
  });

  it('refuses a damaged, truncated or mis-based stream, and a stream from standard input works the same', () => {
    const full = sendTo('f.stream', '--dev-id', '2');
    const target = tmp.path('t.img');
    expect(dmthin('receive', '-i', full.path, '-o', target).code).toBe(0);
    const before = [sha(target), readFileSync(`${target}.dmthin-state`, 'utf8')];
    const inc = sendTo('i.stream', '--dev-id', '3', '--base', '2');
    const bytes = new Uint8Array(readFileSync(inc.path));
    const flipped = tmp.path('flipped.stream');
    const f = bytes.slice();
    f[300 + 5 * BS] ^= 1; // inside the first data record's bytes
    writeFileSync(flipped, f);
    expect(dmthin('receive', '-i', flipped, '-o', target)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/flipped\.stream, byte \d+: record \d+ \(data\): blocks \d+\.\.\d+: checksum stored/),
    });
    const cut = tmp.path('cut.stream');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 30));
    // Each refusal says what it means for the target, and the way on.
    const unchanged = `${target} was not changed: send the stream again\n`;
    expect(dmthin('receive', '-i', cut, '-o', target)).toMatchObject({ code: 1, stderr: expect.stringMatching(/ends early \(truncated\?\)/) });
    expect(dmthin('receive', '-i', cut, '-o', target).stderr.endsWith(unchanged)).toBe(true);
    expect(dmthin('receive', '-i', flipped, '-o', target).stderr.endsWith(unchanged)).toBe(true);
    const wrongBase = sendTo('w.stream', '--dev-id', '3', '--base', '1');
    expect(dmthin('receive', '-i', wrongBase.path, '-o', target)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /base is thin 1 \([0-9a-f]{16}\.\.\.\), but .* holds thin 2 as received at .*: not applying it; send it again from the base the target holds, thin 2 \(dmthin send --base 2; from LVM images, lvm send --base VG\/LV, the thin LV whose device id is 2: lvm ls lists them\), or send a full stream/,
      ),
    });
    expect(dmthin('receive', '-i', inc.path, '-o', tmp.path('fresh.img'))).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/receive the full stream first/),
    });
    expect([sha(target), readFileSync(`${target}.dmthin-state`, 'utf8')]).toEqual(before);
    expect(existsSync(tmp.path('fresh.img'))).toBe(false);
    // The good stream through standard input.
    const piped = spawnSync(process.execPath, [cliPath, 'receive', '-i', '-', '-o', target], { input: readFileSync(inc.path) });
    expect(piped.status, piped.stderr.toString()).toBe(0);
    expect(sha(target)).toBe(sha(image(3)));
  });

  it('an interrupted receive is finished by the same stream and no other; an existing file is not overwritten by a full stream', () => {
    const full = sendTo('g.stream', '--dev-id', '2');
    const inc = sendTo('h.stream', '--dev-id', '3', '--base', '2');
    const target = tmp.path('u.img');
    expect(dmthin('receive', '-i', full.path, '-o', target).code).toBe(0);
    // As a receive killed mid-write of inc leaves it: the state names inc as being applied, some blocks written.
    const state = JSON.parse(readFileSync(`${target}.dmthin-state`, 'utf8'));
    writeFileSync(`${target}.dmthin-state`, JSON.stringify({ ...state, applying: { identity: inc.report.identity, base_identity: state.identity } }));
    const t = new Uint8Array(readFileSync(target));
    t.fill(0xee, 50 * BS, 55 * BS);
    writeFileSync(target, t);
    expect(dmthin('receive', '-i', full.path, '-o', target)).toMatchObject({ code: 1, stderr: expect.stringMatching(/half way through applying stream/) });
    const r = dmthin('receive', '-i', inc.path, '-o', target, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).resumed).toBe(true);
    expect(sha(target)).toBe(sha(image(3)));
    // The stream itself, or a link to it, as the target or the state record: refused, the stream untouched.
    const link = tmp.path('link-to-stream');
    symlinkSync(inc.path, link);
    const before = sha(inc.path);
    expect(dmthin('receive', '-i', inc.path, '-o', link)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/the target .*link-to-stream is the stream being read \(.* are the same file\)/),
    });
    expect(dmthin('receive', '-i', inc.path, '-o', target, '--state', inc.path).code).toBe(2);
    expect(sha(inc.path)).toBe(before);
    // A device target needs --state: beside a device node the record would be in /dev, gone at the next boot.
    expect(dmthin('receive', '-i', full.path, '-o', '/dev/null')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/not a regular file: give --state FILE/),
    });
    const other = tmp.path('someone-elses.img');
    writeFileSync(other, 'precious');
    expect(dmthin('receive', '-i', full.path, '-o', other)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/not made by dmthin receive .*: give another target, or remove it if it holds nothing you need/),
    });
    expect(readFileSync(other, 'utf8')).toBe('precious');
  });
});

describe('stream header codec', () => {
  it('round-trips, and refuses a flipped bit, another magic and another version by name', async () => {
    const { writeHeader, HEADER_SIZE } = await import('../../src/stream/format.js');
    const h = {
      incremental: true,
      blockSize: 131072,
      virtualSize: 2 ** 40,
      pool: new Uint8Array(32).fill(7),
      deviceId: 42,
      baseDeviceId: 41,
      identity: new Uint8Array(32).fill(1),
      baseIdentity: new Uint8Array(32).fill(2),
    };
    const b = writeHeader(h);
    expect(b.length).toBe(HEADER_SIZE);
    expect(parseHeader(b, 's')).toEqual(h);
    const flipped = b.slice();
    flipped[30] ^= 4;
    expect(() => parseHeader(flipped, 's')).toThrow(/^s, byte 0: header checksum: stored 0x[0-9a-f]+, computed 0x[0-9a-f]+$/);
    const other = b.slice();
    other[0] = 0x41;
    expect(() => parseHeader(other, 's')).toThrow(/not a dmthin stream/);
    expect(() => parseHeader(b.subarray(0, 100), 's')).toThrow(/only 100 came/);
  });
});

describe('a full stream into a block device', () => {
  it('writes zeros where the stream has no record, over whatever the device held; refuses a device too small', async () => {
    const { receive } = await import('../../src/stream/receive.js');
    const full = tmp.path('dev.stream');
    expect(dmthin('send', '--metadata', meta, '--data', data, '--dev-id', '3', '--size', SIZE, '-o', full).code).toBe(0);
    // A "device" full of old bytes (a file driven down the block-device path).
    const dev = tmp.path('fake-device');
    writeFileSync(dev, new Uint8Array(128 * BS).fill(0xee));
    const r = await receive(full, dev, { asDevice: true });
    expect(r.dataBlocks).toBe(100);
    expect(sha(dev)).toBe(sha(image(3)));
    const small = tmp.path('small-device');
    writeFileSync(small, new Uint8Array(64 * BS));
    await expect(receive(full, small, { asDevice: true })).rejects.toThrow(/smaller than the 8388608 bytes/);
    expect(readFileSync(small).every((b) => b === 0)).toBe(true);
    expect(existsSync(`${small}.dmthin-state`)).toBe(false);
  });
});

describe('an incremental stream skips what the two snapshots share', () => {
  it('sends only what differs, the same stream when every leaf both trees share is unreadable', async () => {
    const { Metadata } = await import('../../src/thin/metadata.js');
    const { parseNodeHeader, u64ValueAt, valueOffset } = await import('../../src/format/btree-node.js');
    const { Salt, stampChecksum } = await import('../../src/format/checksum.js');
    // 1 maps 0..999; 2 the same but for its first 10 blocks. Restore gives each its own tree, leaf
    // boundaries alike; 2's root is then pointed at 1's leaves past the first, as the kernel leaves a
    // snapshot whose origin rewrote only its first blocks.
    const range = (v: number, d: number, n: number, t: number): string =>
      `    <range_mapping origin_begin="${v}" data_begin="${d}" length="${n}" time="${t}"/>\n`;
    writeFileSync(
      tmp.path('share.xml'),
      '<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="2048">\n' +
        `  <device dev_id="1" mapped_blocks="1000" transaction="0" creation_time="0" snap_time="1">\n${range(0, 0, 1000, 0)}  </device>\n` +
        `  <device dev_id="2" mapped_blocks="1000" transaction="1" creation_time="1" snap_time="1">\n${range(0, 1000, 10, 1)}${range(10, 10, 990, 0)}  </device>\n` +
        '</superblock>\n',
    );
    const m = emptyFile(tmp.path('share.meta'), 4 << 20);
    expect(dmthin('restore', '-i', tmp.path('share.xml'), '-o', m).code).toBe(0);
    const md = Metadata.open(m);
    const roots = new Map(md.devices().map((d) => [d.devId, d.mappingRoot]));
    md.close();
    const bytes = new Uint8Array(readFileSync(m));
    const block = (b: number): Uint8Array => bytes.subarray(b * 4096, (b + 1) * 4096);
    const [r1, r2] = [block(must(roots.get(1), 'the root of thin 1')), block(must(roots.get(2), 'the root of thin 2'))];
    const h = parseNodeHeader(r2);
    expect(h.nrEntries).toBeGreaterThan(3);
    const graft = new DataView(r2.buffer, r2.byteOffset);
    for (let i = 1; i < h.nrEntries; i++) graft.setBigUint64(valueOffset(h.maxEntries, 8, i), BigInt(u64ValueAt(r1, h.maxEntries, i)), true);
    stampChecksum(r2, Salt.btreeNode);
    writeFileSync(m, bytes);
    const kdata = emptyFile(tmp.path('share.data'), 2048 * BS);
    const sendK = (metaFile: string, out: string): ReturnType<typeof dmthin> =>
      // --size given: without it the rightmost leaf of each tree is read to find the device's end.
      dmthin('send', '--metadata', metaFile, '--data', kdata, '--dev-id', '2', '--base', '1', '--size', String(1024 * BS), '-o', tmp.path(out), '--json');
    const good = sendK(m, 'k-good.stream');
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ data_blocks: 10, zero_blocks: 0, shared_subtrees_skipped: 2 * (h.nrEntries - 1) });
    // Every shared leaf zeroed: a walk that read any of them fails (delta reads every leaf), send does not.
    for (let i = 1; i < h.nrEntries; i++) block(u64ValueAt(r1, h.maxEntries, i)).fill(0);
    writeFileSync(tmp.path('k-broken.meta'), bytes);
    expect(dmthin('delta', tmp.path('k-broken.meta'), '--snap1', '1', '--snap2', '2').code).toBe(1);
    const r = sendK(tmp.path('k-broken.meta'), 'k-broken.stream');
    expect(r.code, r.stderr).toBe(0);
    expect(sha(tmp.path('k-broken.stream'))).toBe(sha(tmp.path('k-good.stream')));
  });
});

describe('streams larger than the reader buffers', () => {
  it('blocks of 16 MiB (records larger than the reader takes at once) and 37 MiB of 1 MiB records across its chunk boundaries round-trip', () => {
    for (const [sectors, blocks] of [
      [32768, 5],
      [128, 600],
    ] as const) {
      const bs = sectors * 512;
      const xml = tmp.path(`big-${sectors}.xml`);
      writeFileSync(
        xml,
        `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="${sectors}" nr_data_blocks="${blocks + 1}">\n` +
          `  <device dev_id="1" mapped_blocks="${blocks}" transaction="0" creation_time="0" snap_time="0">\n` +
          `    <range_mapping origin_begin="1" data_begin="0" length="${blocks}" time="0"/>\n  </device>\n</superblock>\n`,
      );
      const m = emptyFile(tmp.path(`big-${sectors}.meta`), 4 << 20);
      expect(dmthin('restore', '-i', xml, '-o', m).code).toBe(0);
      const d = new Uint8Array((blocks + 1) * bs);
      for (let i = 0; i < d.length; i += 4096) d[i] = (i / 4096) & 255;
      const dfile = tmp.path(`big-${sectors}.data`);
      writeFileSync(dfile, d);
      const s = tmp.path(`big-${sectors}.stream`);
      expect(dmthin('send', '--metadata', m, '--data', dfile, '--dev-id', '1', '-o', s).code).toBe(0);
      const t = tmp.path(`big-${sectors}.img`);
      const r = dmthin('receive', '-i', s, '-o', t);
      expect(r.code, r.stderr).toBe(0);
      const e = tmp.path(`big-${sectors}.export`);
      expect(dmthin('export', '--metadata', m, '--data', dfile, '--dev-id', '1', '-o', e).code).toBe(0);
      expect(sha(t)).toBe(sha(e));
    }
  });
});
