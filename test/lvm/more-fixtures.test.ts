/**
 * The LVM layer on PVs lvm2 made on a real kernel (test/kernel/guest/
 * make-fixtures.sh, in the VM), each with LVM's own report (lvs -a, JSON,
 * a row per segment) and the sha256 of every LV as the kernel read it
 * through LVM:
 *
 * - lvm-striped: a VG over two PVs, 2 MiB extents; pool data striped over
 *   both and extended (two segments), chunk 256 KiB; a linear LV on both
 *   PVs; a striped LV; a thin LV "gone" recorded, then lvremove'd;
 * - lvm-disk: a whole-disk image with a GPT (sfdisk), the PV in partition
 *   2, a small metadata area committed until its text wrapped round;
 * - lvm-repaired: a pool after lvconvert --repair (thin_repair 0.9).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseConfigText } from '../../src/lvm/config-text.js';
import { volumeGroup } from '../../src/lvm/vg.js';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import type { LvsRow } from '../support/lvs.js';
import { oracle, projectRoot, scratch, tpt09, xzDecompress } from '../support/env.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

interface Facts {
  rows: LvsRow[];
  sums: Map<string, { bytes: number; sha256: string }>;
  lines: string[];
}
interface InvLv {
  name: string;
  type: string;
  size: number;
  hidden: boolean;
  pool?: string;
  device_id?: number;
  origin?: string;
  chunk_size?: number;
  transaction_id?: number;
  metadata_transaction_id?: number;
  mapped_bytes?: number;
}

function facts(name: string): Facts {
  const lines = readFileSync(join(projectRoot, 'fixtures', `${name}.facts`), 'utf8').split('\n');
  const sums = new Map<string, { bytes: number; sha256: string }>();
  for (const l of lines) {
    const m = /^lv (\S+) (\d+) bytes, sha256 ([0-9a-f]{64})$/.exec(l);
    if (m) sums.set(m[1], { bytes: Number(m[2]), sha256: m[3] });
  }
  const report = JSON.parse(readFileSync(join(projectRoot, 'fixtures', `${name}.lvs.facts`), 'utf8')) as { report: Array<{ lv: LvsRow[] }> };
  return { rows: report.report[0].lv, sums, lines };
}

function unpack(name: string): string {
  const path = tmp.path(name);
  xzDecompress(join(projectRoot, 'fixtures', `${name}.xz`), path);
  return path;
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** lvm ls --json against lvs's rows (one per segment): every LV, its size, type, thin fields and segment count. */
function matchesLvs(images: string[], vg: string, f: Facts): InvLv[] {
  const r = dmthin('lvm', 'ls', '--json', ...images);
  const inv = JSON.parse(r.stdout) as { vgs: Array<{ name: string; lvs: InvLv[] }>; problems: unknown[] };
  expect(inv.problems).toEqual([]);
  expect(r.code).toBe(0);
  const lvs = must(
    inv.vgs.find((v) => v.name === vg),
    `VG ${vg}`,
  ).lvs;
  const byName = new Map<string, LvsRow[]>();
  for (const row of f.rows) byName.set(row.lv_name.replace(/^\[|\]$/g, ''), [...(byName.get(row.lv_name.replace(/^\[|\]$/g, '')) ?? []), row]);
  expect(lvs.map((l) => l.name).sort()).toEqual([...byName.keys()].sort());
  for (const [name, rows] of byName) {
    const ours = must(
      lvs.find((l) => l.name === name),
      `LV ${name}`,
    );
    const first = rows[0];
    expect(ours.size, name).toBe(Number(first.lv_size));
    expect(ours.hidden, name).toBe(first.lv_name.startsWith('['));
    expect(rows.length, `${name} segments`).toBe(Number(first.seg_count));
    const striped = rows.some((x) => Number(x.stripes) > 1);
    const type = first.segtype === 'striped' || first.segtype === 'linear' ? (striped ? 'striped' : 'linear') : first.segtype;
    expect(ours.type, name).toBe(type);
    if (first.segtype === 'thin') {
      expect(ours, name).toMatchObject({ pool: first.pool_lv, device_id: Number(first.thin_id), transaction_id: Number(first.transaction_id) });
      if (first.origin) expect(ours.origin, name).toBe(first.origin);
    }
    if (first.segtype === 'thin-pool') {
      expect(ours, name).toMatchObject({
        chunk_size: Number(first.chunk_size),
        transaction_id: Number(first.transaction_id),
        metadata_transaction_id: Number(first.transaction_id),
      });
    }
  }
  return lvs;
}

/** Every LV the facts recorded, exported from the images, against the kernel's bytes. */
function exportsMatch(images: string[], f: Facts, names: string[]): void {
  for (const name of names) {
    const sum = f.sums.get(name);
    expect(sum, name).toBeDefined();
    const want = must(sum, `the sum of ${name}`);
    const out = tmp.path(`${name.replace('/', '_')}.img`);
    const r = dmthin('lvm', 'export', ...images, name, '-o', out);
    expect([r.code, r.stderr], name).toEqual([0, '']);
    expect(readFileSync(out).length, name).toBe(want.bytes);
    expect(sha(out), name).toBe(want.sha256);
  }
}

describe('a VG over two PVs: striped and extended pool data, chunk 256 KiB, a linear LV on both PVs, a removed thin LV', () => {
  let pvs: string[];
  let f: Facts;
  beforeAll(() => {
    pvs = [unpack('lvm-striped-1.pv'), unpack('lvm-striped-2.pv')];
    f = facts('lvm-striped');
  });

  it('lists every LV as lvs did, segments and stripes included', () => {
    const lvs = matchesLvs(pvs, 'vgst', f);
    expect(
      must(
        lvs.find((l) => l.name === 'pool_tdata'),
        'LV pool_tdata',
      ).type,
    ).toBe('striped');
    expect(
      must(
        lvs.find((l) => l.name === 'pool'),
        'LV pool',
      ).chunk_size,
    ).toBe(256 * 1024);
    expect(f.rows.filter((r) => r.lv_name === '[pool_tdata]')).toHaveLength(2); // striped, then extended
    expect(f.rows.filter((r) => r.lv_name === 'lin')).toHaveLength(2); // on PV 1, then extended onto PV 2
  });

  it('exports the thin LVs (through striped, extended pool data), the linear and the striped LV byte for byte as the kernel read them', () => {
    exportsMatch(pvs, f, ['vgst/t1', 'vgst/s1', 'vgst/lin', 'vgst/str']);
  });

  it('the pool checks clean in place and uses what the kernel reported', () => {
    const j = JSON.parse(dmthin('lvm', 'check', '--json', ...pvs, 'vgst/pool').stdout) as { exit_code: number; data_blocks_used: number };
    const status = must(
      f.lines.find((l) => l.startsWith('status ')),
      'the status line',
    ).split(' ');
    expect(j.exit_code).toBe(0);
    expect(j.data_blocks_used).toBe(Number(status[6].split('/')[0]));
  });

  it('history names the removed thin LV with the device id, size and pool LVM gave it', () => {
    const removed = must(/^removed vgst\/gone thin_id (\d+)$/m.exec(f.lines.join('\n')), 'the removed line');
    const h = JSON.parse(dmthin('lvm', 'history', '--json', ...pvs).stdout) as {
      removed: unknown[];
      versions: Array<{ seqno: number; description: string; changes: Array<{ kind: string; lv: string }> }>;
    };
    expect(h.removed).toEqual([
      {
        vg: 'vgst',
        name: 'gone',
        device_id: Number(removed[1]),
        pool: 'pool',
        size: must(f.sums.get('vgst/gone'), 'the sum of vgst/gone').bytes,
        last_seqno: expect.any(Number),
        removed_at: expect.stringMatching(/^\d{4}-/),
      },
    ]);
    const last = (h.removed[0] as { last_seqno: number }).last_seqno;
    const next = must(
      h.versions.find((v) => v.seqno > last),
      'the version after the last',
    );
    expect(next.description).toMatch(/lvremove -y vgst\/gone/);
    expect(next.changes).toContainEqual({ kind: 'lv_removed', lv: 'gone' });
  });

  it('brings the removed thin LV back by name: lvm ls --deleted finds its tree, lvm export --deleted gives the bytes the kernel read before lvremove', () => {
    const removed = Number(must(/^removed vgst\/gone thin_id (\d+)$/m.exec(f.lines.join('\n')), 'the removed line')[1]);
    const ls = JSON.parse(dmthin('lvm', 'ls', '--deleted', '--json', ...pvs).stdout) as {
      pools: Array<{ vg: string; pool: string; devices: Array<Record<string, unknown>> }>;
    };
    expect(ls.pools).toEqual([
      {
        vg: 'vgst',
        pool: 'pool',
        live_devices: 2,
        devices: [
          expect.objectContaining({
            device_id: removed,
            name: 'gone',
            size: must(f.sums.get('vgst/gone'), 'the sum of vgst/gone').bytes,
            reallocated: 0,
            unknown: 0,
          }),
        ],
        unattributed: expect.any(Object),
      },
    ]);
    const out = tmp.path('gone.img');
    const r = dmthin('lvm', 'export', ...pvs, 'vgst/gone', '--deleted', '-o', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'thin', device_id: removed, pool: 'pool', withheld_blocks: 0 });
    expect(sha(out)).toBe(must(f.sums.get('vgst/gone'), 'the sum of vgst/gone').sha256);
    expect(dmthin('lvm', 'export', ...pvs, 'vgst/t1', '--deleted', '-o', tmp.path('t1-deleted.img'))).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/names no removed thin LV vgst\/t1 \(removed: gone\)/),
    });
  });

  it("lvm undelete writes pool metadata with the removed LV's device back and LVM's text with the LV back; neither touches the images", () => {
    const before = pvs.map(sha);
    const meta = tmp.path('undeleted.meta');
    const text = tmp.path('vgst.undeleted');
    expect(dmthin('lvm', 'undelete', ...pvs, 'vgst/gone', '-o', meta, '--vg-text', text)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/truncate -s \d+ /),
    });
    writeFileSync(meta, new Uint8Array(4 << 20));
    const r = dmthin('lvm', 'undelete', ...pvs, 'vgst/gone', '-o', meta, '--vg-text', text, '--json');
    expect(r.code, r.stderr).toBe(0);
    const removed = Number(must(/^removed vgst\/gone thin_id (\d+)$/m.exec(f.lines.join('\n')), 'the removed line')[1]);
    expect(JSON.parse(r.stdout)).toMatchObject({ lv: 'vgst/gone', pool: 'pool', device_id: removed, as: removed, left_out: 0 });
    expect(pvs.map(sha)).toEqual(before);
    // The VG text: LVM's newest, plus gone's section, plus a description saying so.
    const vg = volumeGroup(must(parseConfigText(readFileSync(text, 'utf8')).section('vgst'), 'section vgst'));
    expect(must(vg.lvs.get('gone'), 'LV gone').segments[0]).toMatchObject({ type: 'thin', thinPool: 'pool', deviceId: removed });
    const inv = JSON.parse(dmthin('lvm', 'ls', '--json', ...pvs).stdout) as { vgs: Array<{ seqno: number; lvs: Array<{ name: string }> }> };
    expect([...vg.lvs.keys()].sort()).toEqual([...inv.vgs[0].lvs.map((l) => l.name), 'gone'].sort());
    expect(vg.seqno).toBe(inv.vgs[0].seqno);
    // The metadata passes thin_check; its device exports (with the pool's data) as the kernel read gone before lvremove.
    expect(dmthin('check', meta).code).toBe(0);
    if (tpt09) expect(oracle('0.9', 'thin_check', [meta]).code).toBe(0);
    const data = tmp.path('vgst-tdata');
    expect(dmthin('lvm', 'export', ...pvs, 'vgst/pool_tdata', '-o', data).code).toBe(0);
    const out = tmp.path('gone-undeleted.img');
    expect(
      dmthin(
        'export',
        '--metadata',
        meta,
        '--data',
        data,
        '--dev-id',
        String(removed),
        '--size',
        String(must(f.sums.get('vgst/gone'), 'the sum of vgst/gone').bytes),
        '-o',
        out,
      ).code,
    ).toBe(0);
    expect(sha(out)).toBe(must(f.sums.get('vgst/gone'), 'the sum of vgst/gone').sha256);
  });

  it('with one PV missing, names it and refuses the LVs that lie on it, by name', () => {
    const r = dmthin('lvm', 'ls', '--json', pvs[0]);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as { problems: Array<{ kind: string }> }).problems.map((p) => p.kind)).toContain('missing_pv');
    const e = dmthin('lvm', 'export', pvs[0], 'vgst/lin', '-o', tmp.path('lin-half.img'));
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/lin lies on pv1, which none of the images given holds/);
  });
});

describe('a whole-disk image with a GPT, the PV in partition 2, its VG text wrapped round the metadata area', () => {
  let disk: string;
  let f: Facts;
  beforeAll(() => {
    disk = unpack('lvm-disk.pv');
    f = facts('lvm-disk');
  });

  it('finds the PV in the partition and lists every LV as lvs did', () => {
    matchesLvs([disk], 'pve', f);
    const inv = JSON.parse(dmthin('lvm', 'ls', '--json', disk).stdout) as { vgs: Array<{ pvs: Array<{ offset: number }> }> };
    expect(inv.vgs[0].pvs[0].offset).toBe(4096 * 512);
  });

  it('exports every LV byte for byte as the kernel read it', () => {
    exportsMatch([disk], f, ['pve/swap', 'pve/vm-100-disk-0', 'pve/vm-101-disk-0']);
  });

  it('history finds the versions the wrap left whole, up to the committed one, and none it overwrote', () => {
    const commits = Number(must(/^commits (\d+) mda (\d+)$/m.exec(f.lines.join('\n')), 'the commits line')[1]);
    const h = JSON.parse(dmthin('lvm', 'history', '--json', disk).stdout) as { versions: Array<{ seqno: number; committed: boolean; description: string }> };
    const seqnos = h.versions.map((v) => v.seqno);
    const newest = seqnos[seqnos.length - 1];
    expect(h.versions[h.versions.length - 1].committed).toBe(true);
    expect(newest).toBeGreaterThan(commits);
    // The oldest versions were overwritten (vgcreate's is gone); what is left runs without gaps to the newest.
    expect(seqnos[0]).toBeGreaterThan(1);
    expect(seqnos).toEqual(Array.from({ length: seqnos.length }, (_, i) => seqnos[0] + i));
    expect(h.versions.every((v) => /lvchange|lvcreate|vgcreate|lvremove/.test(v.description))).toBe(true);
  });
});

describe('a pool after lvconvert --repair', () => {
  let pv: string;
  let f: Facts;
  beforeAll(() => {
    pv = unpack('lvm-repaired.pv');
    f = facts('lvm-repaired');
  });

  it('lists the repaired pool, the old metadata kept as pool_meta0 and the new spare, as lvs did', () => {
    const lvs = matchesLvs([pv], 'vgrp', f);
    expect(lvs.map((l) => l.name)).toContain('pool_meta0');
  });

  it('exports the thin LVs as the kernel read them after the repair, which is as they were before it', () => {
    exportsMatch([pv], f, ['vgrp/t1', 'vgrp/s1']);
    for (const n of ['t1', 's1']) {
      const before = must(new RegExp(`^before vgrp/${n} \\d+ bytes, sha256 ([0-9a-f]{64})$`, 'm').exec(f.lines.join('\n')), `the before line of ${n}`)[1];
      expect(must(f.sums.get(`vgrp/${n}`), `the sum of vgrp/${n}`).sha256).toBe(before);
    }
    expect(dmthin('lvm', 'check', pv, 'vgrp/pool').code).toBe(0);
  });
});
