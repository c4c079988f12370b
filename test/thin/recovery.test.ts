/**
 * Recovery of deleted thin devices, scored against the kernel's bytes
 * (fixtures/recovery-*.meta.xz and .data.xz, made in the VM by
 * test/kernel/guest/make-fixtures.sh): devices 2 (a snapshot of 1, written
 * after) and 3 were hashed block by block through the kernel, then deleted;
 * the pool was copied right after (a), after more writing (b), after the
 * allocator wrapped round into the freed blocks (c), and after the device
 * that took them was deleted too (d).
 *
 * Every exported block is scored: recovered (its bytes equal the kernel's),
 * zeroed (left as a hole), wrong (bytes that are not the kernel's). Wrong
 * must be 0 in every case; undelete's output must pass thin_check 0.9 and
 * 1.1 and map the same blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { oracle, projectRoot, scratch, tpt09, tpt11, xzDecompress } from '../support/env.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const BLOCK = 65536;
const MOMENTS = ['a', 'b', 'c', 'd'] as const;
/** device -> virtual block -> sha256 of the kernel's bytes before the delete. */
const kernel = new Map<number, string[]>();
const zeroHash = createHash('sha256').update(new Uint8Array(BLOCK)).digest('hex');

interface Score {
  recovered: number;
  zeroed: number;
  wrong: number;
  /** Blocks the device had written (not all zeros) before the delete. */
  written: number;
}

const scores = new Map<string, Score>();
afterAll(() => {
  // The table docs/PERFORMANCE.md (recovery) quotes.
  for (const [k, s] of scores) process.stderr.write(`recovery ${k}: ${JSON.stringify(s)}\n`);
});

beforeAll(() => {
  for (const line of readFileSync(join(projectRoot, 'fixtures', 'recovery.facts'), 'utf8').split('\n')) {
    const m = /^block (\d+) (\d+) ([0-9a-f]{64})$/.exec(line);
    if (!m) continue;
    const dev = Number(m[1]);
    let blocks = kernel.get(dev);
    if (!blocks) kernel.set(dev, (blocks = []));
    blocks[Number(m[2])] = m[3];
  }
});

function files(moment: string): { meta: string; data: string } {
  const meta = tmp.path(`recovery-${moment}.meta`);
  const data = tmp.path(`recovery-${moment}.data`);
  xzDecompress(join(projectRoot, 'fixtures', `recovery-${moment}.meta.xz`), meta);
  xzDecompress(join(projectRoot, 'fixtures', `recovery-${moment}.data.xz`), data);
  return { meta, data };
}

function score(dev: number, image: Uint8Array): Score {
  const want = must(kernel.get(dev), `the kernel's blocks of thin ${dev}`);
  const s: Score = { recovered: 0, zeroed: 0, wrong: 0, written: 0 };
  for (let v = 0; v < want.length; v++) {
    if (want[v] === zeroHash) continue;
    s.written++;
    const got = image.subarray(v * BLOCK, (v + 1) * BLOCK);
    const h = got.length === BLOCK ? createHash('sha256').update(got).digest('hex') : zeroHash;
    if (h === want[v]) s.recovered++;
    else if (h === zeroHash) s.zeroed++;
    else s.wrong++;
  }
  return s;
}

interface Listed {
  device_id: number;
  mapped_blocks: number;
  intact: number;
  shared: number;
  reallocated: number;
  unknown: number;
}

describe.each(MOMENTS)('deleted devices 2 and 3, pool copied at moment %s', (moment) => {
  let meta = '';
  let data = '';
  let listed: Listed[] = [];
  beforeAll(() => {
    ({ meta, data } = files(moment));
    const r = dmthin('ls', '--deleted', '--json', meta);
    expect(r.code, r.stderr).toBe(0);
    listed = JSON.parse(r.stdout).devices;
  });

  it('ls --deleted finds the deleted devices and accounts for every mapped block', () => {
    for (const d of listed) expect(d.intact + d.shared + d.reallocated + d.unknown, `device ${d.device_id}`).toBe(d.mapped_blocks);
    if (moment === 'a') expect(listed.map((d) => d.device_id)).toEqual([2, 3]);
  });

  it("export --deleted writes only the kernel's bytes: every block recovered or zeroed, none wrong", () => {
    for (const dev of [2, 3]) {
      const found = listed.find((d) => d.device_id === dev);
      if (!found) continue; // its tree did not survive: nothing claimed
      const out = tmp.path(`dev${dev}-${moment}.img`);
      const r = dmthin(
        'export',
        '--metadata',
        meta,
        '--data',
        data,
        '--deleted',
        String(dev),
        '--size',
        `${must(kernel.get(dev), `the kernel's blocks of thin ${dev}`).length * BLOCK}`,
        '-o',
        out,
        '--json',
      );
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      const s = score(dev, new Uint8Array(readFileSync(out)));
      // --data counts the vouched-for blocks that read as zeros: every vouched-for block not recovered as written bytes.
      const withData = JSON.parse(dmthin('ls', '--deleted', '--json', '--data', data, meta).stdout).devices.find((x: Listed) => x.device_id === dev);
      expect(withData.zero_blocks).toBe(report.intact + report.shared - s.recovered);
      scores.set(`${moment}/${dev}`, s);
      expect(s.wrong, `moment ${moment}, device ${dev}: ${JSON.stringify(s)}`).toBe(0);
      expect(s.recovered).toBeLessThanOrEqual(report.intact + report.shared);
      if (moment === 'a') expect(s.recovered, `right after the delete everything of device ${dev} survives`).toBe(s.written);
    }
  });

  it('--include-unknown writes the unknown blocks too, counted apart (and scored: what a guess would have cost)', () => {
    for (const dev of [2, 3]) {
      const d = listed.find((x) => x.device_id === dev);
      if (!d || d.unknown === 0) continue;
      const out = tmp.path(`dev${dev}-${moment}-unknown.img`);
      const size = `${must(kernel.get(dev), `the kernel's blocks of thin ${dev}`).length * BLOCK}`;
      const r = JSON.parse(
        dmthin('export', '--metadata', meta, '--data', data, '--deleted', String(dev), '--include-unknown', '--size', size, '-o', out, '--json').stdout,
      );
      expect(r.unknown_written).toBe(d.unknown);
      expect(r.written_blocks).toBe(d.intact + d.shared + d.unknown);
      scores.set(`${moment}/${dev} with --include-unknown`, score(dev, new Uint8Array(readFileSync(out))));
    }
  });

  it('undelete writes metadata with device 3 back that both thin_checks pass, mapping exactly what export wrote', () => {
    const d3 = listed.find((d) => d.device_id === 3);
    if (!d3 || d3.intact + d3.shared === 0) return;
    const out = tmp.path(`undeleted-${moment}.meta`);
    writeFileSync(out, new Uint8Array(4 << 20));
    const r = dmthin('undelete', '-i', meta, '-o', out, '--dev-id', '3', '--as', '13', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ device_id: 3, as: 13, mappings: d3.intact + d3.shared });
    expect(dmthin('check', out).code).toBe(0);
    if (tpt09) expect(oracle('0.9', 'thin_check', [out]).code).toBe(0);
    if (tpt11) expect(oracle('1.1', 'thin_check', [out]).code).toBe(0);
    // Device 13 of the new metadata exported live is device 3's recovered image.
    const a = tmp.path(`u13-${moment}.img`);
    const b = tmp.path(`d3-${moment}.img`);
    const size = `${must(kernel.get(3), "the kernel's blocks of thin 3").length * BLOCK}`;
    expect(dmthin('export', '--metadata', out, '--data', data, '--dev-id', '13', '--size', size, '-o', a).code).toBe(0);
    expect(dmthin('export', '--metadata', meta, '--data', data, '--deleted', '3', '--size', size, '-o', b).code).toBe(0);
    expect(createHash('sha256').update(readFileSync(a)).digest('hex')).toBe(createHash('sha256').update(readFileSync(b)).digest('hex'));
    // The live devices are untouched: every one dumps as before.
    const before = dmthin('dump', meta).stdout.replace(/<superblock[^>]*>/, '');
    const after = dmthin('dump', out).stdout.replace(/<superblock[^>]*>/, '');
    expect(after.replace(/\s*<device dev_id="13"[\s\S]*?<\/device>/, '')).toBe(before);
  });
});

describe('refusals', () => {
  it('names what is not there, and never writes over an input', () => {
    const { meta, data } = files('a');
    expect(dmthin('export', '--metadata', meta, '--data', data, '--deleted', '7', '-o', tmp.path('x'))).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no deleted thin device 7 survives in the metadata \(deleted devices found: 2, 3\)/),
    });
    expect(dmthin('export', '--metadata', meta, '--data', data, '--deleted', '3', '--dev-id', '1', '-o', tmp.path('x')).code).toBe(2);
    expect(dmthin('undelete', '-i', meta, '-o', meta, '--dev-id', '3').code).toBe(2);
    expect(dmthin('undelete', '-i', meta, '-o', tmp.path('none.meta'), '--dev-id', '3', '--as', '1')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/thin device 1 exists in the pool/),
    });
  });
});

describe('time range of a deleted device', () => {
  it('is found for millions of mappings (a spread into Math.min overflows the stack there)', async () => {
    const { timeRange } = await import('../../src/cli/ls-deleted.js');
    const time = new Uint32Array(5_000_000).fill(7);
    time[123] = 3;
    time[4_999_999] = 9;
    expect(timeRange({ time } as never)).toEqual([3, 9]);
    expect(timeRange({ time: new Uint32Array(0) } as never)).toBeNull();
  });
});
