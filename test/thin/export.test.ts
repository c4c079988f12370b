/**
 * Offline export on a generated pool: each block of the output is the data
 * block the XML maps there, or zeros; holes stay holes; bad requests fail
 * clearly. (The kernel comparison is in test/kernel/driver.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { writePoolXml } from '../bench/pool-generator.js';
import { restore } from '../../src/thin/restore/restore.js';
import { spawnSync } from 'node:child_process';
import { cliPath, dmthin } from '../support/cli.js';
import { emptyFile, scratch } from '../support/env.js';
import { patchBlock } from '../support/damage.js';
import { copyFileSync } from 'node:fs';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const bs = 128 * 512;
let meta = '';
let data = '';
let xml = '';
let nrData = 0;

beforeAll(() => {
  xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 17, origins: 1, snapshotsPerOrigin: 2, mappingsPerOrigin: 400, rewriteShare: 0.3, runLength: 6, spareDataBlocks: 50 });
  nrData = g.nrDataBlocks;
  meta = emptyFile(tmp.path('p.meta'), 4 << 20);
  restore(xml, meta);
  // Each data block is filled with a pattern naming it; block 7 is all zeros.
  const buf = Buffer.alloc(nrData * bs);
  for (let b = 0; b < nrData; b++) {
    if (b === 7) continue;
    buf.fill((b % 251) + 1, b * bs, (b + 1) * bs);
    buf.writeUInt32LE(b + 1, b * bs);
  }
  data = tmp.path('p.data');
  writeFileSync(data, buf);
});

/** The device as the XML says it is: data block contents at each mapped virtual block. */
function expected(devId: number, size: number): Buffer {
  const dataBuf = readFileSync(data);
  const out = Buffer.alloc(size);
  const text = readFileSync(xml, 'utf8');
  const body = text.split(`<device dev_id="${devId}"`)[1].split('</device>')[0];
  for (const m of body.matchAll(/origin_(?:begin|block)="(\d+)" data_(?:begin|block)="(\d+)"(?: length="(\d+)")?/g)) {
    for (let i = 0; i < Number(m[3] ?? 1); i++) {
      dataBuf.copy(out, (Number(m[1]) + i) * bs, (Number(m[2]) + i) * bs, (Number(m[2]) + i + 1) * bs);
    }
  }
  return out;
}

describe('dmthin export', () => {
  it('rebuilds every device byte for byte, sparse, sized to its highest mapped block by default', () => {
    for (const dev of [0, 1, 2]) {
      const out = tmp.path(`dev${dev}.img`);
      const r = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', String(dev), '-o', out, '--json');
      expect(r.code, r.stderr).toBe(0);
      const info = JSON.parse(r.stdout);
      const got = readFileSync(out);
      expect(got.length).toBe(info.size);
      expect(got.equals(expected(dev, info.size))).toBe(true);
      expect(info.mapped_bytes).toBe(400 * bs);
      // Unmapped blocks are holes: far fewer blocks allocated than the file's size.
      expect(statSync(out).blocks * 512).toBeLessThanOrEqual(info.mapped_bytes - info.zero_bytes + bs);
    }
  });

  it('pads to --size and streams the same bytes to stdout', () => {
    const out = tmp.path('sized.img');
    const r = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '--size', '256M', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const file = readFileSync(out);
    expect(file.length).toBe(256 << 20);
    expect(file.equals(expected(1, 256 << 20))).toBe(true);
    const s = spawnSync(process.execPath, [cliPath, 'export', '--metadata', meta, '--data', data, '--dev-id', '1', '--size', '256M', '-o', '-'], {
      maxBuffer: 1 << 29,
    });
    expect(s.status).toBe(0);
    expect(Buffer.from(s.stdout).equals(file)).toBe(true);
  });

  it('refuses a size below the highest mapped block, an unknown device, and a short data file', () => {
    const small = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '--size', '64k', '-o', tmp.path('x.img'));
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(/maps data up to byte \d+, past the size asked for \(65536\)/);
    const unknown = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '42', '-o', tmp.path('x.img'));
    expect(unknown.stderr).toMatch(/no thin device 42/);
    // The ids it does hold are named (truth: the XML the pool was restored from).
    const ids = [...readFileSync(xml, 'utf8').matchAll(/<device dev_id="(\d+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(1);
    expect(unknown.stderr).toContain(`(its thin devices: ${ids.join(', ')})`);
    const short = tmp.path('short.data');
    writeFileSync(short, Buffer.alloc(bs * 3));
    const r = dmthin('export', '--metadata', meta, '--data', short, '--dev-id', '0', '-o', tmp.path('x.img'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/short\.data \(196608 bytes\) is smaller than the pool's \d+ data blocks/);
    expect(existsSync(tmp.path('x.img'))).toBe(false);
  });

  it('refuses a superblock whose data_block_size the kernel would refuse, in every command that locates data blocks', () => {
    // A valid checksum over data_block_size 0: export had written a 0-byte image and said every block was exported.
    const bad = tmp.path('dbs0.meta');
    copyFileSync(meta, bad);
    patchBlock(bad, 0, (_d, dv) => dv.setUint32(336, 0, true), 'superblock');
    const out = tmp.path('dbs0.img');
    const runs = [
      dmthin('export', '--metadata', bad, '--data', data, '--dev-id', '1', '-o', out),
      dmthin('export', '--metadata', bad, '--data', data, '--dev-id', '1', '-o', '-'),
      dmthin('send', '--metadata', bad, '--data', data, '--dev-id', '1', '-o', tmp.path('dbs0.stream')),
      dmthin('ls', bad),
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`${bad}: superblock (block 0): data_block_size 0 sectors is not a multiple of 128 sectors`);
      expect(r.stderr).toContain('--data-block-size');
    }
    expect(existsSync(out)).toBe(false);
    expect(existsSync(tmp.path('dbs0.stream'))).toBe(false);
    // repair names the impossible field and the way out, and with the size given rebuilds metadata that exports the original bytes.
    const fixed = emptyFile(tmp.path('dbs0.fixed'), 4 << 20);
    const r = dmthin('repair', '-i', bad, '-o', fixed);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/data block size is impossible in the superblock \(0 sectors\).*--data-block-size/);
    expect(dmthin('repair', '-i', bad, '-o', fixed, '--data-block-size', '128').code).toBe(0);
    expect(dmthin('export', '--metadata', fixed, '--data', data, '--dev-id', '1', '-o', out).code).toBe(0);
    const size = statSync(out).size;
    expect(readFileSync(out).equals(expected(1, size))).toBe(true);
  });
});
