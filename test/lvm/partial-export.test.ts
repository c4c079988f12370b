/**
 * `lvm export --partial`: a disk of a two-PV VG gone for good. What the
 * remaining PV holds is written, the bytes that lay on the missing one as
 * zeros, and every such range is listed, exit 1; scored against the
 * kernel's bytes of each LV (fixtures/lvm-striped.facts) with the ranges
 * the layout puts on the missing PV zeroed.
 *
 * The layout (the VG text lvm2 wrote; extents of 2 MiB): lin is pv0 extents
 * 0-2 then pv1 9-10; pool_tdata is two stripes of 64 KiB, pv0 first then
 * pv1, in two segments whose lengths are whole multiples of 128 KiB;
 * pool_tmeta is on pv1. The pool's chunk is 256 KiB. Which data block each
 * of t1's virtual blocks uses comes from thin_dump (the oracle), not from
 * dmthin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { oracle, projectRoot, scratch, skipReason, tpt09, tpt11 } from '../support/env.js';
import type { LvsRow } from '../support/lvs.js';
import { unpackStripedPvs } from '../support/fixtures.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const MiB = 2 ** 20;
const KiB = 1024;
const CHUNK = 256 * KiB;
let pv0 = '';
let pv1 = '';
const kernel = new Map<string, string>();
let t1Id = -1;

beforeAll(() => {
  [pv0, pv1] = unpackStripedPvs(tmp.path);
  for (const l of readFileSync(join(projectRoot, 'fixtures', 'lvm-striped.facts'), 'utf8').split('\n')) {
    const m = /^lv (\S+) \d+ bytes, sha256 ([0-9a-f]{64})$/.exec(l);
    if (m) kernel.set(m[1], m[2]);
  }
  const rows = (JSON.parse(readFileSync(join(projectRoot, 'fixtures', 'lvm-striped.lvs.facts'), 'utf8')) as { report: Array<{ lv: LvsRow[] }> }).report[0].lv;
  t1Id = Number(
    must(
      rows.find((r) => r.lv_name === 't1'),
      'the lvs row of t1',
    ).thin_id,
  );
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The LV as the kernel read it: exported from both PVs and held to the kernel's sha256. */
function kernelBytes(lv: string): Buffer {
  const out = tmp.path(`${lv}.whole`);
  const r = dmthin('lvm', 'export', pv0, pv1, `vgst/${lv}`, '-o', out);
  expect(r.code, r.stderr).toBe(0);
  const b = readFileSync(out);
  expect(sha(b)).toBe(kernel.get(`vgst/${lv}`));
  return b;
}

function zeroed(b: Buffer, ranges: Array<{ from: number; to: number }>): Buffer {
  const c = Buffer.from(b);
  for (const r of ranges) c.fill(0, r.from, r.to);
  return c;
}

interface Partial {
  kind: string;
  size: number;
  lost: Array<{ from: number; to: number }>;
  lost_bytes: number;
  mapped_bytes: number;
  read_bytes: number;
  not_all_there: string | null;
}

describe('lvm export --partial: a disk gone for good', () => {
  it('a linear LV half on the missing PV: the other half written, the missing extents zeros, named; exit 1', () => {
    const whole = kernelBytes('lin');
    const out = tmp.path('lin.partial');
    const r = dmthin('lvm', 'export', pv1, 'vgst/lin', '-o', out, '--partial', '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as Partial;
    // lin's first segment, pv0's extents 0-2, is the first 6 MiB of the LV.
    expect(j.lost).toEqual([{ from: 0, to: 6 * MiB }]);
    expect(j.lost_bytes).toBe(6 * MiB);
    // What was read is the rest: mapped_bytes counts what the LV maps, lost bytes too.
    expect([j.mapped_bytes, j.read_bytes]).toEqual([10 * MiB, 4 * MiB]);
    expect(j.not_all_there).toMatch(/lin lies on pv0, which none of the images given holds \(uuid \S+, last seen as \/dev\/loop0\)/);
    expect(readFileSync(out).equals(zeroed(whole, j.lost))).toBe(true);
    // For a person: how much, why, and where.
    const t = dmthin('lvm', 'export', pv1, 'vgst/lin', '-o', tmp.path('lin.partial2'), '--partial');
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/^exported vgst\/lin \(linear\): 10485760 bytes, 4194304 read, /);
    expect(t.stdout).toMatch(/LOST 6291456 bytes of vgst\/lin in 1 range, written as zeros \(lin lies on pv0, .*\): bytes 0\.\.6291455\n$/);
  });

  it.skipIf(
    skipReason(!!(tpt09 || tpt11), 'thin-provisioning-tools (the oracle for t1’s mappings) is not installed: run node test/scripts/ensure-test-tools.mjs'),
  )('a thin LV whose pool’s data is striped over the missing PV: each mapped block’s stripes on it are zeros and listed, the rest the kernel’s bytes', () => {
    const whole = kernelBytes('t1');
    // pool_tmeta is pv1's extent 6 (2 MiB extents from byte 1 MiB): its bytes, for the oracle.
    const tmeta = tmp.path('tmeta');
    const fd = openSync(pv1, 'r');
    const meta = Buffer.alloc(2 * MiB);
    readSync(fd, meta, 0, meta.length, 1 * MiB + 6 * 2 * MiB);
    closeSync(fd);
    writeFileSync(tmeta, meta);
    const dump = oracle(tpt09 ? '0.9' : '1.1', 'thin_dump', [tmeta]);
    expect(dump.code, dump.stderr).toBe(0);
    const dev = must(new RegExp(`<device dev_id="${t1Id}"[^>]*>([\\s\\S]*?)</device>`).exec(dump.stdout), `device ${t1Id} in the dump`)[1];
    const virt: number[] = [];
    for (const m of dev.matchAll(/<range_mapping origin_begin="(\d+)" data_begin="\d+" length="(\d+)"|<single_mapping origin_block="(\d+)"/g)) {
      if (m[3] !== undefined) virt.push(Number(m[3]));
      else for (let i = 0; i < Number(m[2]); i++) virt.push(Number(m[1]) + i);
    }
    expect(virt.length).toBeGreaterThan(0);
    // A data block of 256 KiB is four 64 KiB stripes, pv0's the 1st and 3rd.
    const expected = virt
      .sort((a, b) => a - b)
      .flatMap((v) => [
        { from: v * CHUNK, to: v * CHUNK + 64 * KiB },
        { from: v * CHUNK + 128 * KiB, to: v * CHUNK + 192 * KiB },
      ]);
    const out = tmp.path('t1.partial');
    const r = dmthin('lvm', 'export', pv1, 'vgst/t1', '-o', out, '--partial', '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as Partial;
    expect(j.kind).toBe('thin');
    expect(j.lost).toEqual(expected);
    expect(j.lost_bytes).toBe((virt.length * CHUNK) / 2);
    expect(j.not_all_there).toMatch(/pool pool's data LV pool_tdata lies on pv0/);
    const got = readFileSync(out);
    expect(got.length).toBe(whole.length);
    expect(got.equals(zeroed(whole, expected))).toBe(true);
    const t = dmthin('lvm', 'export', pv1, 'vgst/t1', '-o', tmp.path('t1.partial2'), '--partial');
    expect(t.stdout).toMatch(
      new RegExp(
        `LOST ${(virt.length * CHUNK) / 2} bytes of vgst/t1 in ${expected.length} ranges, written as zeros .*: bytes 0\\.\\.65535, 131072\\.\\.196607, .*, and ${expected.length - 8} more \\(--json lists every one\\)\\nwhat they held cannot be told: .*no ext2/3/4 or XFS superblock.*\\n$`,
      ),
    );
  });

  it('with every PV there, --partial is a plain export: exit 0, nothing lost, the kernel’s bytes', () => {
    const out = tmp.path('t1.all');
    const r = dmthin('lvm', 'export', pv0, pv1, 'vgst/t1', '-o', out, '--partial', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Partial;
    expect(j.lost).toEqual([]);
    expect(j.lost_bytes).toBe(0);
    expect(sha(readFileSync(out))).toBe(kernel.get('vgst/t1'));
  });

  it('without --partial the refusal says it is the way on when the disk is gone; nothing written', () => {
    const out = tmp.path('lin.refused');
    const r = dmthin('lvm', 'export', pv1, 'vgst/lin', '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /lin lies on pv0, which none of the images given holds .*: add the image holding that PV; if the missing bytes cannot be had, --partial writes what the images hold, the missing bytes as zeros, and lists them\n$/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a pool whose metadata LV is on the missing PV: refused even with --partial, without offering it, nothing written', () => {
    const out = tmp.path('t1.nometa');
    for (const extra of [[], ['--partial']]) {
      const r = dmthin('lvm', 'export', pv0, 'vgst/t1', '-o', out, ...extra);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/pool pool's metadata LV pool_tmeta lies on pv1, which none of the images given holds .*: add the image holding that PV\n$/);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('lvm ls marks every LV that cannot be read whole (its own problem or its pool’s), gives the missing PV no file, and offers --partial', () => {
    const r = dmthin('lvm', 'ls', '--json', pv1);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as {
      vgs: Array<{ pvs: Array<{ name: string; file: string | null; offset: number | null }>; lvs: Array<{ name: string; problem?: string }> }>;
      problems: Array<{ kind: string; lv?: string; detail: string }>;
    };
    const vg = j.vgs[0];
    expect(vg.pvs.find((p) => p.name === 'pv0')).toMatchObject({ file: null, offset: null });
    expect(vg.pvs.find((p) => p.name === 'pv1')).toMatchObject({ file: pv1, offset: 0 });
    const problem = Object.fromEntries(vg.lvs.map((l) => [l.name, l.problem ?? null]));
    // lin, str and the spare lie on pv0 in part or whole; t1 and s1 through their pool's data LV; pool_tmeta is whole on pv1.
    expect(problem).toMatchObject({
      lin: 'lv_not_all_there',
      str: 'lv_not_all_there',
      lvol0_pmspare: 'lv_not_all_there',
      pool: 'unreadable_pool_data',
      t1: 'unreadable_pool_data',
      s1: 'unreadable_pool_data',
      // The pool's hidden LVs are marked for themselves: its data LV is striped over pv0, its metadata LV whole on pv1.
      pool_tdata: 'lv_not_all_there',
      pool_tmeta: null,
    });
    expect(j.problems.find((p) => p.lv === 'lin')?.detail).toMatch(/lvm export --partial writes what the images hold/);
    const text = dmthin('lvm', 'ls', pv1).stdout;
    expect(text).toMatch(/\n {2}t1 .* ! may be lost in part: unreadable_pool_data \(pool pool\), below; lvm export --partial says what\n/);
    // With the metadata LV gone too (pv0 alone), the thin LVs' mark names that, the worse of the two.
    const alone = JSON.parse(dmthin('lvm', 'ls', '--json', pv0).stdout) as { vgs: Array<{ lvs: Array<{ name: string; problem?: string }> }> };
    expect(alone.vgs[0].lvs.find((l) => l.name === 't1')?.problem).toBe('unreadable_pool_metadata');
    expect(text).toMatch(/PV pv0 \S+ in \(missing\)/);
    // With both PVs, no row is marked.
    expect(dmthin('lvm', 'ls', pv0, pv1).stdout).not.toMatch(/cannot be read whole/);
  });

  it('export names each LV by the segment type lvs gave it (striped is not linear), and so does lvm send’s refusal', () => {
    const rows = (JSON.parse(readFileSync(join(projectRoot, 'fixtures', 'lvm-striped.lvs.facts'), 'utf8')) as { report: Array<{ lv: LvsRow[] }> }).report[0].lv;
    for (const lv of ['lin', 'str']) {
      const r = dmthin('lvm', 'export', pv0, pv1, `vgst/${lv}`, '-o', tmp.path(`${lv}.kind`), '--json');
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { kind: string }).kind).toBe(rows.find((x) => x.lv_name === lv)?.segtype);
    }
    expect(dmthin('lvm', 'send', pv0, pv1, 'vgst/s1', '--base', 'vgst/lin', '-o', tmp.path('x.inc')).stderr).toMatch(
      /vgst\/lin is a linear LV: lvm send takes thin LVs/,
    );
    expect(existsSync(tmp.path('x.inc'))).toBe(false);
  });

  it('ls --fix-vg-text cannot tell when a pool’s metadata is on the missing PV: says so, never "nothing to fix"; nothing written', () => {
    const out = tmp.path('fixed.vg');
    const r = dmthin('lvm', 'ls', pv0, '--fix-vg-text', '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot tell whether vgst\/pool has a transaction-id mismatch: pool pool's metadata LV pool_tmeta lies on pv1/);
    expect(r.stderr).not.toMatch(/nothing to fix/);
    expect(existsSync(out)).toBe(false);
  });

  it('--partial with --deleted is a usage error', () => {
    const r = dmthin('lvm', 'export', pv1, 'vgst/gone', '--deleted', '--partial', '-o', tmp.path('x'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--partial is for an LV the VG still lists/);
  });
});
