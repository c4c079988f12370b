/**
 * The VG text for a pool whose data was shrunk (shrink-pool-text.ts), on
 * VG texts lvm2 wrote: lvm-single (pool vgfx/pool, a linear 10-extent data
 * LV, 4 MiB extents, 64 KiB data blocks: 64 blocks an extent) and
 * lvm-striped (pool vgst/pool, data LV striped over two PVs in two
 * segments of 12 and 4 extents, 2 MiB extents, 256 KiB blocks: 8 blocks an
 * extent). The cut text is written back (write-vg.ts) and read by our scan
 * and, where installed, lvm2's pvck.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImages } from '../../src/lvm/images.js';
import { cutPoolData } from '../../src/lvm/shrink-pool-text.js';
import { lvBytes } from '../../src/lvm/vg.js';
import { writeVgText } from '../../src/lvm/write-vg.js';
import { projectRoot, runTool, scratch, xzDecompress } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const pvck = ['/usr/sbin/pvck', '/sbin/pvck'].find(existsSync);
const vgcfgrestore = ['/usr/sbin/vgcfgrestore', '/sbin/vgcfgrestore'].find(existsSync);

/**
 * lvm2's own import of a VG text (import_vsn1.c: every LV, segment and
 * segment_count), without devices: vgcfgrestore --list -f reads the text
 * as a backup file. Its output names the VG and the description, or says
 * why the text could not be read.
 */
function lvm2Reads(text: string, vg: string): void {
  if (!vgcfgrestore) return;
  const file = tmp.path(`cut-${Math.random().toString(36).slice(2)}.vg`);
  writeFileSync(file, text);
  const r = runTool(vgcfgrestore, ['--list', '-f', file, vg]);
  expect(`${r.stdout}${r.stderr}`).toMatch(new RegExp(`VG name:\\s+${vg}\\n\\s+Description:\\s+dmthin: pool pool's data cut`));
}

function scanned(paths: string[], vg: string) {
  const images = openImages(paths);
  try {
    return must(images.scan.vgs.find((v) => v.vg.name === vg));
  } finally {
    images.close();
  }
}
function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('missing');
  return v;
}

function unpackSingle(name: string): string {
  const out = tmp.path(`${name}.pv`);
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), out);
  return out;
}
const single = unpackSingle('single');
const striped = unpackStripedPvs((n) => tmp.path(`striped-${n}`));

describe('cutting a pool data LV in the VG text', () => {
  it('a linear data LV cut to 6 of its 10 extents: the pool says 6, seqno + 1, the 4 extents after them freed', () => {
    const a = scanned([single], 'vgfx');
    const area = a.vg.lvs.get('pool_tdata')?.segments[0].areas[0];
    const cut = cutPoolData(a.text, 'vgfx', 'pool', 384);
    expect(cut).toMatchObject({ dataLv: 'pool_tdata', fromExtents: 10, toExtents: 6, seqno: a.vg.seqno + 1 });
    expect(cut.freed).toEqual([{ pv: area?.pv, start: (area?.start ?? 0) + 6, count: 4 }]);
    lvm2Reads(cut.text, 'vgfx');
    // Written back and read again: the data LV and the pool are 6 extents, every other LV as it was.
    writeVgText(openImages([single]), 'vgfx', cut.text, { running: () => undefined });
    const after = scanned([single], 'vgfx');
    expect(after.vg.seqno).toBe(a.vg.seqno + 1);
    const bytes = (vg: typeof a.vg, lv: string): number => lvBytes(vg, must(vg.lvs.get(lv)));
    expect(bytes(after.vg, 'pool_tdata')).toBe(384 * 65536);
    expect(bytes(after.vg, 'pool')).toBe(384 * 65536);
    for (const lv of ['thin1', 'snap1', 'thin2', 'pool_tmeta', 'lvol0_pmspare']) expect(bytes(after.vg, lv)).toBe(bytes(a.vg, lv));
    if (pvck) {
      const r = runTool(pvck, ['--dump', 'metadata', single]);
      expect(r.stdout).toContain(`seqno ${a.vg.seqno + 1}`);
      expect(r.stdout).toMatch(/^pool_tdata \{[\s\S]*?^extent_count = 6$/m);
    }
  });

  it('a striped data LV in two segments: cut inside the second keeps it with one extent a stripe; cut at its start removes it', () => {
    const a = scanned(striped, 'vgst');
    const inside = cutPoolData(a.text, 'vgst', 'pool', 112);
    expect(inside.toExtents).toBe(14);
    expect(inside.freed).toEqual([
      { pv: 'pv0', start: 11, count: 1 },
      { pv: 'pv1', start: 8, count: 1 },
    ]);
    expect(inside.text).toMatch(/^segment2 \{\nstart_extent = 12\nextent_count = 2$/m);
    const atStart = cutPoolData(a.text, 'vgst', 'pool', 96);
    expect(atStart.toExtents).toBe(12);
    expect(atStart.text).toMatch(/^pool_tdata \{[^}]*segment_count = 1$/m);
    expect(atStart.text).not.toMatch(/start_extent = 12/);
    expect(atStart.freed).toEqual([
      { pv: 'pv0', start: 10, count: 2 },
      { pv: 'pv1', start: 7, count: 2 },
    ]);
    const deep = cutPoolData(a.text, 'vgst', 'pool', 64);
    for (const c of [inside, atStart, deep]) lvm2Reads(c.text, 'vgst');
    expect(deep.freed).toEqual([
      { pv: 'pv0', start: 8, count: 2 },
      { pv: 'pv1', start: 4, count: 2 },
      { pv: 'pv0', start: 10, count: 2 },
      { pv: 'pv1', start: 7, count: 2 },
    ]);
    writeVgText(openImages(striped), 'vgst', deep.text, { running: () => undefined });
    const after = scanned(striped, 'vgst');
    expect(after.vg.lvs.get('pool_tdata')?.segments.map((g) => g.extentCount)).toEqual([8]);
    expect(after.vg.lvs.get('pool')?.segments[0].extentCount).toBe(8);
  });
});

describe('a data LV of many segments', () => {
  it('20000 segments cut to one in well under the time a test allows (linear in the text)', () => {
    // lvm-single's data LV split into 20000 one-extent segments on pv0 (only where each lies is checked, not overlap).
    const a = scanned([unpackSingle('many-segments')], 'vgfx');
    const n = 20000;
    const segments = Array.from(
      { length: n },
      (_, i) => `segment${i + 1} {\nstart_extent = ${i}\nextent_count = 1\n\ntype = "striped"\nstripe_count = 1\n\nstripes = [\n"pv0", 0\n]\n}`,
    ).join('\n');
    const text = a.text
      .replace(/^(pool_tdata \{[\s\S]*?segment_count = )1\n\n(segment1 \{[^}]*\})/m, (_m, head: string) => `${head}${n}\n\n${segments}`)
      .replace(/^(pool \{[\s\S]*?extent_count = )10$/m, `$1${n}`);
    const started = Date.now();
    const cut = cutPoolData(text, 'vgfx', 'pool', 64);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(cut).toMatchObject({ fromExtents: n, toExtents: 1 });
    expect(cut.freed).toHaveLength(n - 1);
    expect(cut.text).toMatch(/^pool_tdata \{[^}]*segment_count = 1$/m);
    expect(cut.text.match(/^segment\d+ \{$/gm)?.length).toBe(a.text.match(/^segment\d+ \{$/gm)?.length);
  });
});

describe('refusals', () => {
  const text = (): string => scanned([tmp.path('single.pv')], 'vgfx').text;
  it('a size that is not a whole number of extents, naming the nearest that are', () => {
    expect(() => cutPoolData(text(), 'vgfx', 'pool', 400)).toThrow(
      /400 data blocks of 65536 bytes is not a whole number .*4194304-byte extents: .*--size \d+ \(384 data blocks\) or --size \d+ \(448 data blocks\)/,
    );
    expect(() => cutPoolData(text(), 'vgfx', 'pool', 10)).toThrow(/nearest sizes that are: --size 4194304 \(64 data blocks\)/);
  });
  it('a striped segment that would be left with unequal stripes', () => {
    // A fresh copy: the test above wrote a cut text into the first.
    const t = scanned(
      unpackStripedPvs((n) => tmp.path(`fresh-${n}`)),
      'vgst',
    ).text;
    expect(() => cutPoolData(t, 'vgst', 'pool', 104)).toThrow(
      /striped over 2 PVs.*nearest sizes that can: --size \d+ \(96 data blocks\) or --size \d+ \(112 data blocks\)/,
    );
  });
  it('a size not smaller than the pool, zero, and an LV that is no thin pool', () => {
    const a = scanned([single], 'vgfx');
    const blocks = lvBytes(a.vg, must(a.vg.lvs.get('pool_tdata'))) / 65536;
    expect(() => cutPoolData(a.text, 'vgfx', 'pool', blocks)).toThrow(/the same: nothing to cut/);
    expect(() => cutPoolData(a.text, 'vgfx', 'pool', blocks + 64)).toThrow(/larger: this only cuts/);
    expect(() => cutPoolData(a.text, 'vgfx', 'pool', 0)).toThrow(/positive whole number/);
    expect(() => cutPoolData(a.text, 'vgfx', 'thin1', 64)).toThrow(/vgfx\/thin1 is not a thin pool/);
  });
});
