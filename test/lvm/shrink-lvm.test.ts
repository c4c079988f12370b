/**
 * dmthin lvm shrink on a PV lvm2 made (fixtures/lvm-fs: VG vgfs, a 64 MiB
 * thin pool with 64 KiB chunks and 4 MiB extents, thin LVs web, web-snap
 * and gone-snap, and a removed LV whose tree survives). The truth is the
 * kernel's: the md5 of every LV as device-mapper read it when the fixture
 * was made (lvm-fs.facts). What the shrink wrote is read back by lvm2's own
 * pvck and lvs, and the metadata LV by both thin_checks. Refusals change no
 * byte of the image; a run killed at any step leaves a pool that reads as
 * before, and a second run finishes it as an uninterrupted one does.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lvmShrink } from '../../src/lvm/shrink-pool.js';
import { cliPath, dmthin } from '../support/cli.js';
import { patchBlock } from '../support/damage.js';
import { oracle, projectRoot, runTool, scratch, skipReason, tpt09, tpt11, xzDecompress } from '../support/env.js';

const s = scratch('dmthin-lvm-shrink-');
afterAll(() => s.cleanup());

const facts = readFileSync(join(projectRoot, 'fixtures', 'lvm-fs.facts'), 'utf8');
const kernelMd5 = (lv: string): string => {
  const m = new RegExp(`^lv vgfs/${lv} \\d+ bytes, md5 ([0-9a-f]{32})$`, 'm').exec(facts);
  if (!m) throw new Error(`lvm-fs.facts has no md5 for ${lv}`);
  return m[1];
};
const LIVE = ['web', 'web-snap', 'gone-snap'];
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let n = 0;
function freshPv(): string {
  const pv = s.path(`pv-${n++}.img`);
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-fs.pv.xz'), pv);
  return pv;
}

/** Every live LV's bytes as dmthin's export reads them from the image, by md5. */
function picture(pv: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const lv of LIVE) {
    const file = s.path(`${lv}-${n++}.out`);
    const r = dmthin('lvm', 'export', pv, `vgfs/${lv}`, '-o', file);
    expect(r.code, r.stderr).toBe(0);
    out[lv] = md5(readFileSync(file));
  }
  return out;
}
const kernelPicture = Object.fromEntries(LIVE.map((lv) => [lv, kernelMd5(lv)]));

/** The metadata LV's bytes, out of the image, for the oracles. */
function metadataOf(pv: string): string {
  const file = s.path(`tmeta-${n++}.bin`);
  const r = dmthin('lvm', 'export', pv, 'vgfs/pool_tmeta', '-o', file);
  expect(r.code, r.stderr).toBe(0);
  return file;
}

const pvck = ['/usr/sbin/pvck', '/sbin/pvck'].find(existsSync);
const lvmBin = ['/usr/sbin/lvm', '/sbin/lvm'].find(existsSync);

describe('dmthin lvm shrink on a pool lvm2 made', () => {
  // 190 of 1024 blocks in use; the smallest whole number of 4 MiB extents that holds them: 3 (192 blocks).
  const SIZE = '12m';

  it('refuses a size that is not whole extents, below what is used, or larger; deleted LVs that can come back; an image twice: the image unchanged', () => {
    const pv = freshPv();
    const before = md5(readFileSync(pv));
    const extents = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', '13m', '--forget-deleted');
    expect(extents.code).toBe(2);
    expect(extents.stderr).toMatch(
      /208 data blocks of 65536 bytes is not a whole number of VG vgfs's 4194304-byte extents: the nearest sizes that are: --size 12582912 \(192 data blocks\) or --size 16777216 \(256 data blocks\); the smallest that holds the blocks in use: --size 12582912 \(192 data blocks\)/,
    );
    // Below every size the blocks fit in: the nearest whole-extent size is named, and the smallest that holds them.
    const tiny = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', '1m', '--forget-deleted');
    expect(tiny.stderr).toMatch(/nearest sizes that are: --size 4194304 \(64 data blocks\); the smallest that holds the blocks in use: --size 12582912/);
    // Not an LVM PV: raw metadata given to lvm shrink is named, with the command that reads it.
    const raw = s.path('raw.meta');
    xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.meta.xz'), raw);
    expect(dmthin('lvm', 'shrink', raw, 'vgfs/pool', '--size', SIZE).stderr).toMatch(
      /no VG vgfs in .*raw\.meta is thin pool metadata .*shrink --metadata FILE/,
    );
    const small = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', '8m', '--forget-deleted');
    expect(small.code).toBe(1);
    expect(small.stderr).toMatch(
      /smallest size that fits is 190 data blocks \(12451840 bytes\); in whole 4194304-byte extents: --size 12582912 \(192 data blocks\)/,
    );
    const large = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', '128m', '--forget-deleted');
    expect(large.code).toBe(1);
    expect(large.stderr).toMatch(/larger than pool vgfs\/pool's data LV \(1024 data blocks/);
    const deleted = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE);
    expect(deleted.code).toBe(1);
    expect(deleted.stderr).toMatch(
      /1 deleted thin device can still be brought back: thin 1 \(removed LV vgfs\/gone\), 88 blocks; .*dmthin lvm export --deleted \S+ VG\/LV -o FILE brings one back by its name/,
    );
    const twice = dmthin('lvm', 'shrink', pv, pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted');
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toMatch(/same image, given twice|copies of one PV/);
    const dry = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      min_size_bytes: 12582912,
      dry_run: true,
      old_nr_blocks: 1024,
      new_nr_blocks: 192,
      used_blocks: 190,
      from_extents: 16,
      to_extents: 3,
    });
    expect(md5(readFileSync(pv))).toBe(before);
  });

  it('refuses metadata the kernel marked needs_check, naming the lvm doctor for these images (not a raw command on the LV)', () => {
    const pv = freshPv();
    // pool_tmeta lies at PV extent 17: 1 MiB of label and metadata area, then 4 MiB extents.
    patchBlock(pv, ((1 << 20) + 17 * 4194304) / 4096, (_d, dv) => dv.setUint32(4, 1, true), 'superblock');
    const before = md5(readFileSync(pv));
    const r = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/vgfs\/pool_tmeta: the superblock has needs_check set: .*run dmthin lvm doctor \S+ vgfs\/pool first/);
    expect(md5(readFileSync(pv))).toBe(before);
  });

  it('refuses a pool the kernel runs from the images, before anything is written', () => {
    const pv = freshPv();
    const before = md5(readFileSync(pv));
    expect(() => lvmShrink([pv], 'vgfs/pool', 12 << 20, { forgetDeleted: true, runningPool: () => 'vgfs-pool-tpool' })).toThrow(
      /the kernel runs pool vgfs\/pool from these disks \(vgfs-pool-tpool\).*vgchange -an vgfs/,
    );
    expect(md5(readFileSync(pv))).toBe(before);
  });

  const shrunk = freshPv();
  const result = dmthin('lvm', 'shrink', shrunk, 'vgfs/pool', '--size', SIZE, '--forget-deleted', '--json');

  it("shrinks it: every LV reads as the kernel read it, the metadata says the new size, the VG text the pool's new extents", () => {
    expect(result.code, result.stderr).toBe(0);
    const r = JSON.parse(result.stdout);
    expect(r).toMatchObject({ old_nr_blocks: 1024, new_nr_blocks: 192, from_extents: 16, to_extents: 3, seqno: 15, metadata_areas: 1, already_shrunk: false });
    expect(r.moved_blocks).toBeGreaterThan(0);
    expect(r.freed).toEqual([{ pv: 'pv0', start: 4, count: 13 }]);
    // The hidden metadata LV by the name lvm ls prints, brackets and all.
    expect(dmthin('lvm', 'export', shrunk, 'vgfs/[pool_tmeta]', '-o', s.path('bracketed.tmeta')).code).toBe(0);
    expect(picture(shrunk)).toEqual(kernelPicture);
    const ls = dmthin('lvm', 'ls', shrunk, '--json');
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('"seqno": 15');
  });

  it.skipIf(skipReason(tpt09 !== undefined && tpt11 !== undefined, 'thin_check 0.9 or 1.1 missing: the shrunk metadata LV is not checked'))(
    'both thin_checks accept the metadata LV, and thin_dump says nr_data_blocks 192 (tpt #322)',
    () => {
      const meta = metadataOf(shrunk);
      for (const v of ['0.9', '1.1'] as const) expect(oracle(v, 'thin_check', [meta]).code, `thin_check ${v}`).toBe(0);
      expect(oracle('1.1', 'thin_dump', [meta]).stdout).toMatch(/nr_data_blocks="192"/);
    },
  );

  it.skipIf(skipReason(pvck !== undefined, 'lvm2 (pvck) is not installed: the VG text is not read back by lvm2'))(
    "lvm2's pvck reads the new text, its checksum good: the pool and its data LV at 3 extents",
    () => {
      const r = runTool(pvck as string, ['--dump', 'metadata', shrunk]);
      expect(r.stdout).toMatch(/# vgname vgfs seqno 15/);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/CHECK/);
    },
  );

  // lvm2 reads a PV only as a block device: a loop device over the image (no device-mapper needed to list it),
  // attached by the test itself and always detached (one attached while collecting leaked when a filter skipped the test).
  it.skipIf(
    skipReason(
      lvmBin !== undefined && process.getuid?.() === 0 && existsSync('/dev/loop-control'),
      `lvm2 cannot read the image: ${lvmBin ? (process.getuid?.() === 0 ? 'no loop devices (/dev/loop-control)' : 'not root') : 'lvm2 is not installed'}`,
    ),
  )("lvm2's lvs and pvs read the shrunk VG: the pool 12 MiB, its 13 extents free on the PV", (ctx) => {
    const loop = spawnSync('losetup', ['-f', '--show', '-r', shrunk], { encoding: 'utf8' });
    if (loop.status !== 0) {
      skipReason(false, `losetup cannot attach the image here (${loop.stderr.trim()}): lvm2 does not read the shrunk VG`);
      ctx.skip();
      return;
    }
    const loopDev = loop.stdout.trim();
    try {
      lvm2Reads(loopDev);
    } finally {
      spawnSync('losetup', ['-d', loopDev]);
    }
  });

  /** What lvm2's lvs and pvs say of the shrunk VG through `loopDev`. */
  function lvm2Reads(loopDev: string): void {
    const config = 'devices { obtain_device_list_from_udev = 0 } backup { backup = 0 archive = 0 }';
    // lvm2's report of the loop device alone, in bytes.
    const report = (cmd: string, ...args: string[]) =>
      runTool(lvmBin as string, [cmd, '--devices', loopDev, '--config', config, '--noheadings', '--units', 'b', '--nosuffix', ...args]);
    const lvs = report('lvs', '-a', '-o', 'lv_name,lv_size', 'vgfs');
    expect(lvs.code, lvs.stderr).toBe(0);
    const sizes = Object.fromEntries(
      lvs.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)),
    );
    expect(sizes.pool).toBe('12582912');
    expect(sizes['[pool_tdata]']).toBe('12582912');
    const pvs = report('pvs', '-o', 'pv_free');
    expect(pvs.code, pvs.stderr).toBe(0);
    // 19 extents: pmspare 1, tdata 3, tmeta 1 taken; was 2 free before the 13 given back.
    expect(Number(pvs.stdout.trim())).toBe(14 * 4194304);
  }

  it('says when the pool is left nearly full (the smallest size leaves the thin devices no room)', () => {
    const pv = freshPv();
    const r = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted');
    expect(r.stdout).toMatch(/note: the pool is now 99 % full \(190 of 192 data blocks in use\).*a larger --size leaves room/);
  });

  it('run again: nothing to do, nothing written', () => {
    const before = md5(readFileSync(shrunk));
    const again = dmthin('lvm', 'shrink', shrunk, 'vgfs/pool', '--size', SIZE, '--forget-deleted');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/vgfs\/pool is already 192 data blocks \(12582912 bytes\): nothing to do/);
    expect(md5(readFileSync(shrunk))).toBe(before);
  });

  describe('killed at any step', () => {
    // Past the PV's metadata area (its first MiB: label, header, the text with its creation time), the bytes must be the uninterrupted run's.
    const AREA = 1 << 20;
    const points = ['copy:1', 'after-copy', 'metadata-write:3', 'before-superblock', 'after-superblock', 'before-vg-text'];
    it.each(points)('at %s: the pool reads as before; the same command again finishes it as an uninterrupted run does', (point) => {
      expect(result.code, result.stderr).toBe(0);
      const pv = freshPv();
      const killed = spawnSync(process.execPath, [cliPath, 'lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted'], {
        env: { ...process.env, DMTHIN_FAULT: `shrink:${point}` },
        encoding: 'utf8',
      });
      expect(killed.signal, `${point} was reached: ${killed.stderr}`).toBe('SIGKILL');
      const check = dmthin('lvm', 'check', pv, 'vgfs/pool');
      expect(check.code, check.stderr).toBe(0);
      // Stopped after the metadata's commit: the doctor says so, with the command that finishes it.
      const doctor = dmthin('lvm', 'doctor', pv, 'vgfs/pool', '--json');
      const unfinished = JSON.parse(doctor.stdout).problems.filter((p: any) => p.code === 'unfinished_shrink');
      if (['after-superblock', 'before-vg-text'].includes(point))
        expect(unfinished).toEqual([
          expect.objectContaining({ severity: 'info', fix: expect.stringMatching(/dmthin lvm shrink .* vgfs\/pool --size 12582912 finishes it/) }),
        ]);
      else expect(unfinished).toEqual([]);
      expect(picture(pv)).toEqual(kernelPicture);
      const again = dmthin('lvm', 'shrink', pv, 'vgfs/pool', '--size', SIZE, '--forget-deleted', '--json');
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ new_nr_blocks: 192, to_extents: 3, seqno: 15 });
      expect(md5(readFileSync(pv).subarray(AREA))).toBe(md5(readFileSync(shrunk).subarray(AREA)));
      expect(picture(pv)).toEqual(kernelPicture);
    });
  });
});

describe('dmthin lvm metadata-resize', () => {
  it.skipIf(skipReason(tpt09 !== undefined && tpt11 !== undefined, 'thin_check 0.9 or 1.1 missing: the resized metadata is not checked'))(
    "puts the pool's metadata from the image into a larger file: both thin_checks pass, thin_dump prints what it prints of the metadata LV; the image unchanged",
    () => {
      const pv = freshPv();
      const before = md5(readFileSync(pv));
      const out = s.path('resized.meta');
      writeFileSync(out, '');
      truncateSync(out, 16 << 20);
      const r = dmthin('lvm', 'metadata-resize', pv, 'vgfs/pool', '-o', out, '--json', '--forget-deleted');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ from_nr_blocks: 1024, metadata_nr_blocks: 4096 });
      for (const v of ['0.9', '1.1'] as const) expect(oracle(v, 'thin_check', [out]).code, `thin_check ${v}`).toBe(0);
      const dumpOf = (f: string): string => oracle('1.1', 'thin_dump', [f]).stdout;
      expect(dumpOf(out)).toBe(dumpOf(metadataOf(pv)));
      expect(md5(readFileSync(pv))).toBe(before);
    },
  );
});

describe('dmthin lvm shrink over two PVs (fixtures/lvm-striped: the pool data LV striped)', () => {
  const pvs = (tag: string): string[] =>
    [1, 2].map((i) => {
      const p = s.path(`striped-${tag}-${i}.img`);
      xzDecompress(join(projectRoot, 'fixtures', `lvm-striped-${i}.pv.xz`), p);
      return p;
    });
  const AREA = 1 << 20;
  const seqnoIn = (pv: string): number => {
    const r = dmthin('lvm', 'history', pv, '--json');
    return Math.max(
      ...JSON.parse(r.stdout)
        .versions.filter((v: any) => v.committed)
        .map((v: any) => v.seqno),
    );
  };

  it('names the smallest size that keeps the stripes equal, and takes it', () => {
    const [a, b] = pvs('min');
    const dry = dmthin('lvm', 'shrink', a, b, 'vgst/pool', '--size', '4m', '--forget-deleted');
    expect(dry.code).toBe(1);
    const named = /split evenly among the stripes: --size (\d+) \((\d+) data blocks\)/.exec(dry.stderr);
    expect(named, dry.stderr).not.toBeNull();
    const r = dmthin('lvm', 'shrink', a, b, 'vgst/pool', '--size', String(named?.[1]), '--forget-deleted', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).new_nr_blocks).toBe(Number(named?.[2]));
  });

  it("a run stopped after one PV's text was written: the same command writes the other PV's, and only that", () => {
    const [a, b] = pvs('stopped');
    const oldArea = readFileSync(b).subarray(0, AREA);
    const r = dmthin('lvm', 'shrink', a, b, 'vgst/pool', '--size', '24m', '--forget-deleted');
    expect(r.code, r.stderr).toBe(0);
    // The second PV's metadata area as it was: its header never committed the new text.
    const fd = openSync(b, 'r+');
    writeSync(fd, oldArea, 0, AREA, 0);
    closeSync(fd);
    expect([seqnoIn(a), seqnoIn(b)]).toEqual([17, 16]);
    // Named as lvm2 would warn of it, by lvm ls and the doctor.
    const ls = dmthin('lvm', 'ls', a, b, '--json');
    expect(JSON.parse(ls.stdout).problems).toContainEqual(
      expect.objectContaining({
        kind: 'old_metadata_area',
        detail: expect.stringMatching(/holds seqno 16, the VG's newest is 17 .*vgck --updatemetadata vgst/),
      }),
    );
    const doctor = dmthin('lvm', 'doctor', a, b, 'vgst/pool', '--json');
    expect(doctor.code).toBe(1);
    const report = JSON.parse(doctor.stdout);
    expect(report.problems.map((p: any) => p.code)).toEqual(['old_metadata_area']);
    // The pool is sound: the plan is lvm2's own leveling, not a repair's "do not activate".
    expect(report.plan.map((p: any) => p.command)).toEqual(['vgck --updatemetadata vgst']);
    const imageA = md5(readFileSync(a));
    const again = dmthin('lvm', 'shrink', a, b, 'vgst/pool', '--size', '24m', '--forget-deleted', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ already_shrunk: true, metadata_areas: 1, seqno: 17 });
    expect([seqnoIn(a), seqnoIn(b)]).toEqual([17, 17]);
    expect(JSON.parse(dmthin('lvm', 'ls', a, b, '--json').stdout).problems).toEqual([]);
    expect(md5(readFileSync(a))).toBe(imageA);
    const third = dmthin('lvm', 'shrink', a, b, 'vgst/pool', '--size', '24m', '--forget-deleted');
    expect(third.stdout).toMatch(/vgst\/pool is already 96 data blocks \(25165824 bytes\): nothing to do/);
  });
});
