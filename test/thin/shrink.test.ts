/**
 * dmthin shrink on raw pools: every device reads the same after, both
 * thin_checks accept the result, the superblock says the new size
 * (tpt #322), sharing is kept, refusals change nothing, and a run killed
 * at any of its steps leaves the old pool (or the finished one) and a
 * second run finishes it exactly as an uninterrupted run would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { patchBlock } from '../support/damage.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, oracle, projectRoot, scratch, skipReason, tpt09, tpt11, xzDecompress } from '../support/env.js';
import { cliPath } from '../support/cli.js';

const s = scratch('dmthin-shrink-');
afterAll(() => s.cleanup());

const BLOCK = 65536;
const haveOracles = !skipReason(tpt09 !== undefined && tpt11 !== undefined, 'thin_check 0.9 or 1.1 missing: shrink results are not checked');

/** (virtual, data, length, time) runs of one device. */
type Runs = Array<[number, number, number, number]>;

/**
 * An origin (1) with two snapshots (2, 3) that share most of its blocks and
 * overwrote a few, and an unrelated thin (4). Data blocks used: 0..199,
 * 210..219, 600..629, 700..899, 950..959, 1000..1019 (470 of 1024).
 */
const DEVICES: Array<[number, Runs]> = [
  [
    1,
    [
      [0, 0, 200, 0],
      [200, 700, 200, 0],
    ],
  ],
  [
    2,
    [
      [0, 0, 50, 0],
      [50, 950, 10, 1],
      [60, 60, 140, 0],
      [200, 700, 100, 0],
      [300, 210, 10, 1],
      [310, 810, 90, 0],
    ],
  ],
  [
    3,
    [
      [0, 0, 100, 0],
      [100, 1000, 20, 2],
      [120, 120, 80, 0],
      [200, 700, 200, 0],
    ],
  ],
  [4, [[0, 600, 30, 2]]],
];
const USED = new Set<number>();
for (const [, runs] of DEVICES) for (const [, d, l] of runs) for (let i = 0; i < l; i++) USED.add(d + i);

function poolXml(): string {
  const devs = DEVICES.map(([id, runs]) => {
    const n = runs.reduce((a, r) => a + r[2], 0);
    const body = runs.map(([o, d, l, t]) => `    <range_mapping origin_begin="${o}" data_begin="${d}" length="${l}" time="${t}"/>`).join('\n');
    return `  <device dev_id="${id}" mapped_blocks="${n}" transaction="${id}" creation_time="${id === 1 ? 0 : 1}" snap_time="2">\n${body}\n  </device>`;
  });
  return `<superblock uuid="" time="2" transaction="7" flags="0" version="2" data_block_size="128" nr_data_blocks="1024">\n${devs.join('\n')}\n</superblock>\n`;
}

/** The pristine pool, made once: restored metadata and 64 MiB of random data. */
const pristine = (() => {
  const xml = s.path('pool.xml');
  writeFileSync(xml, poolXml());
  const meta = emptyFile(s.path('pristine.meta'), 4 << 20);
  const r = dmthin('restore', '-i', xml, '-o', meta);
  if (r.code !== 0) throw new Error(r.stderr);
  const data = s.path('pristine.data');
  writeFileSync(data, randomBytes(1024 * BLOCK));
  return { meta, data };
})();

let copies = 0;
function freshPool(from = pristine): { meta: string; data: string } {
  const n = copies++;
  const meta = s.path(`p${n}.meta`);
  const data = s.path(`p${n}.data`);
  copyFileSync(from.meta, meta);
  copyFileSync(from.data, data);
  return { meta, data };
}

const md5 = (path: string): string => createHash('md5').update(readFileSync(path)).digest('hex');

/** What each device reads (md5 of dmthin export) and its exclusive/shared counts (dmthin ls). */
function pictureOf(pool: { meta: string; data: string }): { reads: Record<number, string>; sharing: unknown } {
  const ls = dmthin('ls', pool.meta, '--json', '--format', 'DEV,MAPPED,EXCLUSIVE,SHARED');
  expect(ls.code, ls.stderr).toBe(0);
  const devices = (JSON.parse(ls.stdout) as { devices: Array<{ dev: number; mapped_blocks: number; exclusive_blocks: number; shared_blocks: number }> })
    .devices;
  const reads: Record<number, string> = {};
  for (const d of devices) {
    const out = s.path('export.img');
    const r = dmthin('export', '--metadata', pool.meta, '--data', pool.data, '--dev-id', String(d.dev), '-o', out);
    expect(r.code, r.stderr).toBe(0);
    reads[d.dev] = md5(out);
  }
  return { reads, sharing: devices.map((d) => [d.dev, d.mapped_blocks, d.exclusive_blocks, d.shared_blocks]) };
}

function expectBothChecksPass(meta: string): void {
  if (!haveOracles) return;
  for (const v of ['0.9', '1.1'] as const) {
    const r = oracle(v, 'thin_check', [meta]);
    expect(r.code, `thin_check ${v}: ${r.stderr}`).toBe(0);
  }
}

function nrDataBlocksOf(meta: string): number {
  const tool = tpt09 ? join(tpt09, 'thin_dump') : undefined;
  const xml = tool ? spawnSync(tool, [meta], { encoding: 'utf8' }).stdout : dmthin('dump', meta).stdout;
  return Number(/nr_data_blocks="(\d+)"/.exec(xml)?.[1]);
}

/** Data blocks the metadata maps, by thin_dump (the oracle), not by dmthin. */
function mappedDataBlocks(meta: string): number[] {
  const xml = tpt09 ? spawnSync(join(tpt09, 'thin_dump'), [meta], { encoding: 'utf8' }).stdout : dmthin('dump', meta).stdout;
  const out: number[] = [];
  for (const m of xml.matchAll(/data_begin="(\d+)" length="(\d+)"/g)) for (let i = 0; i < Number(m[2]); i++) out.push(Number(m[1]) + i);
  for (const m of xml.matchAll(/data_block="(\d+)"/g)) out.push(Number(m[1]));
  return out;
}

const before = pictureOf(pristine);
const SIZE = 512;

describe('dmthin shrink', () => {
  it('moves every block past the size below it: each device reads the same, sharing kept, both thin_checks pass, nr_data_blocks is the new size, the file is cut', () => {
    const pool = freshPool();
    const r = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', `${SIZE * 64}k`, '--json');
    expect(r.code, r.stderr).toBe(0);
    const moved = [...USED].filter((b) => b >= SIZE).length;
    expect(JSON.parse(r.stdout)).toMatchObject({
      moved_blocks: moved,
      moved_bytes: moved * BLOCK,
      new_nr_blocks: SIZE,
      old_nr_blocks: 1024,
      used_blocks: USED.size,
    });
    expect(pictureOf(pool)).toEqual(before);
    expectBothChecksPass(pool.meta);
    expect(nrDataBlocksOf(pool.meta)).toBe(SIZE);
    expect(Math.max(...mappedDataBlocks(pool.meta))).toBeLessThan(SIZE);
    // Each distinct block moved once: as many distinct blocks are mapped as before.
    expect(new Set(mappedDataBlocks(pool.meta)).size).toBe(USED.size);
    expect(statSync(pool.data).size).toBe(SIZE * BLOCK);
  });

  it('shrinks to the smallest size it names, and refuses one block less, changing nothing', () => {
    const pool = freshPool();
    const dry = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', `${1023 * 64}k`, '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const min = JSON.parse(dry.stdout).min_nr_blocks as number;
    // Below 470, blocks 200..209 and 220..469 are free: 260, as many as are used at or past 470 (600..629, 700..899, 950..959, 1000..1019).
    expect(min).toBe(USED.size);
    const [m0, d0] = [md5(pool.meta), md5(pool.data)];
    const refused = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', `${(min - 1) * 64}k`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`smallest size that fits is ${min} data blocks \\(${min * BLOCK} bytes\\)`));
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect([md5(pool.meta), md5(pool.data)]).toEqual([m0, d0]);
    const ok = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', `${min * 64}k`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(pictureOf(pool)).toEqual(before);
    expectBothChecksPass(pool.meta);
  });

  it('--dry-run says what would move and how long it would take, and changes nothing', () => {
    const pool = freshPool();
    const r = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m', '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const moved = [...USED].filter((b) => b >= SIZE).length;
    expect(j).toMatchObject({ dry_run: true, moved_blocks: moved, moved_bytes: moved * BLOCK, data_cut_to: SIZE * BLOCK });
    expect(j.copy_rate).toBeGreaterThan(0);
    expect(j.estimated_seconds).toBeGreaterThan(0);
    expect([md5(pool.meta), md5(pool.data)]).toEqual([md5(pristine.meta), md5(pristine.data)]);
    const text = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m', '--dry-run');
    expect(text.stdout).toMatch(new RegExp(`would shrink 1024 -> 512 data blocks .*move ${moved} blocks \\(${moved * BLOCK} bytes\\), about [0-9.]+ s`));
  });

  it('refuses, in one line and changing nothing: a size not whole data blocks (naming the nearest), a larger size, the same file twice, needs_check, a held metadata snapshot, metadata with errors', () => {
    const cases: Array<[string, (p: { meta: string; data: string }) => string[], RegExp, number]> = [
      [
        'not whole blocks',
        (p) => ['--metadata', p.meta, '--data', p.data, '--size', '33000000'],
        /nearest are 32964608 \(503 blocks\) and 33030144 \(504 blocks\)/,
        2,
      ],
      ['larger', (p) => ['--metadata', p.meta, '--data', p.data, '--size', '128m'], /larger than the pool \(\S+ says 1024 data blocks/, 1],
      ['twice', (p) => ['--metadata', p.meta, '--data', p.meta, '--size', '32m'], /same file/, 2],
      ['no data', (p) => ['--metadata', p.meta, '--data', `${p.data}.missing`, '--size', '32m'], /cannot read data .*\.missing: no such file/, 1],
      [
        'not metadata',
        (p) => {
          writeFileSync(p.meta, Buffer.alloc(4 << 20));
          return ['--metadata', p.meta, '--data', p.data, '--size', '32m'];
        },
        /bad superblock checksum.*is it pool metadata/,
        1,
      ],
      [
        'needs_check',
        (p) => {
          patchBlock(p.meta, 0, (_d, dv) => dv.setUint32(4, 1, true), 'superblock');
          return ['--metadata', p.meta, '--data', p.data, '--size', '32m'];
        },
        /needs_check set: the kernel asked for a check; run dmthin doctor --metadata \S+ --data \S+ first/,
        1,
      ],
      [
        'held snapshot',
        (p) => {
          // Any block number will do: shrink refuses before reading it.
          patchBlock(p.meta, 0, (_d, dv) => dv.setBigUint64(56, 5n, true), 'superblock');
          return ['--metadata', p.meta, '--data', p.data, '--size', '32m'];
        },
        /metadata snapshot .*release_metadata_snap/,
        1,
      ],
      [
        'errors',
        (p) => {
          // A mapping leaf's checksum broken: thin_check would fail it.
          const leaf = firstLeaf(p.meta);
          patchBlock(p.meta, leaf, (d) => {
            d[100] ^= 0xff;
          });
          return ['--metadata', p.meta, '--data', p.data, '--size', '32m'];
        },
        /has errors .*shrink rewrites only sound metadata; run dmthin doctor --metadata \S+ --data \S+ first/,
        1,
      ],
    ];
    for (const [name, args, message, code] of cases) {
      const pool = freshPool();
      const argv = args(pool);
      const [m0, d0] = [md5(pool.meta), md5(pool.data)];
      const r = dmthin('shrink', ...argv);
      expect(r.code, `${name}: ${r.stderr}`).toBe(code);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect([md5(pool.meta), md5(pool.data)], name).toEqual([m0, d0]);
    }
  });

  it('refuses a pool the kernel may run: data a loop device stands on, and a device held open (mounted), changing nothing', (ctx) => {
    const pool = freshPool();
    const attach = spawnSync('losetup', ['-f', '--show', pool.data], { encoding: 'utf8' });
    if (attach.status !== 0) {
      skipReason(false, `losetup cannot attach a file here (${attach.stderr.trim()}): the active-pool refusals are not tested`);
      ctx.skip();
      return;
    }
    const loop = attach.stdout.trim();
    const mnt = s.path('mnt');
    try {
      const [m0, d0] = [md5(pool.meta), md5(pool.data)];
      const onFile = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m');
      expect(onFile.code).toBe(1);
      expect(onFile.stderr).toContain(`cannot write data ${pool.data}: ${loop} stands on it`);
      expect([md5(pool.meta), md5(pool.data)]).toEqual([m0, d0]);
      // A mounted file system holds its device exclusively, as an active pool holds its data device.
      expect(spawnSync('mkfs.ext4', ['-q', '-F', loop]).status).toBe(0);
      spawnSync('mkdir', ['-p', mnt]);
      if (spawnSync('mount', [loop, mnt]).status !== 0) {
        skipReason(false, 'mount is not allowed here: the held-device refusal is not tested');
        return;
      }
      try {
        const held = dmthin('shrink', '--metadata', pool.meta, '--data', loop, '--size', '32m');
        expect(held.code).toBe(1);
        expect(held.stderr).toMatch(new RegExp(`cannot write data ${loop}: it is held open by the kernel .*Deactivate the pool`));
        expect(held.stderr.trim().split('\n')).toHaveLength(1);
        expect(md5(pool.meta)).toBe(m0);
      } finally {
        spawnSync('umount', [mnt]);
      }
    } finally {
      spawnSync('losetup', ['-d', loop]);
    }
  });

  it('moves data blocks larger than its 16 MiB copy buffer whole (32 MiB blocks, in pieces)', () => {
    const big = 32 << 20;
    const xml = s.path('big.xml');
    writeFileSync(
      xml,
      '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="65536" nr_data_blocks="8">\n' +
        '  <device dev_id="1" mapped_blocks="3" transaction="0" creation_time="0" snap_time="0">\n' +
        '    <single_mapping origin_block="0" data_block="0" time="0"/>\n' +
        '    <range_mapping origin_begin="1" data_begin="6" length="2" time="0"/>\n' +
        '  </device>\n</superblock>\n',
    );
    const pool = { meta: emptyFile(s.path('big.meta'), 1 << 20), data: emptyFile(s.path('big.data'), 8 * big) };
    expect(dmthin('restore', '-i', xml, '-o', pool.meta).code).toBe(0);
    const fd = openSync(pool.data, 'r+');
    for (const b of [0, 6, 7]) writeSync(fd, randomBytes(big), 0, big, b * big);
    closeSync(fd);
    const was = pictureOf(pool);
    const r = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '128m');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/moved 2 blocks/);
    expect(pictureOf(pool)).toEqual(was);
    expectBothChecksPass(pool.meta);
  });

  it('refuses when the free metadata blocks cannot hold the rewritten metadata beside the committed one, naming metadata resize, changing nothing', () => {
    const used = Number(/into (\d+) of/.exec(dmthin('restore', '-i', s.path('pool.xml'), '-o', emptyFile(s.path('probe.meta'), 4 << 20)).stderr)?.[1]);
    expect(used).toBeGreaterThan(4);
    // One block short of room for a second copy of everything but the superblock.
    const pool = { meta: emptyFile(s.path('tight.meta'), (2 * used - 2) * 4096), data: s.path('tight.data') };
    expect(dmthin('restore', '-i', s.path('pool.xml'), '-o', pool.meta).code).toBe(0);
    copyFileSync(pristine.data, pool.data);
    const [m0, d0] = [md5(pool.meta), md5(pool.data)];
    const r = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `has ${used - 2} free metadata blocks, and the rewritten metadata needs up to ${used - 1} beside the committed one: grow it first to at least ${(2 * used - 1) * 4096} bytes .*dmthin metadata resize`,
      ),
    );
    expect([md5(pool.meta), md5(pool.data)]).toEqual([m0, d0]);
    // With room for the copy (the size the refusal named) it goes through.
    const roomy = { meta: emptyFile(s.path('roomy.meta'), (2 * used - 1) * 4096), data: pool.data };
    expect(dmthin('restore', '-i', s.path('pool.xml'), '-o', roomy.meta).code).toBe(0);
    const ok = dmthin('shrink', '--metadata', roomy.meta, '--data', roomy.data, '--size', '32m');
    expect(ok.code, ok.stderr).toBe(0);
    expect(pictureOf(roomy)).toEqual(before);
    expectBothChecksPass(roomy.meta);
  });

  it("never harms a file that is not the pool's: a data file reading zeros is refused; metadata already saying a smaller size cuts no file without the record of a shrink", () => {
    // A fresh file of the right size, given as the data by mistake: moving "its" blocks would lose the pool's data.
    const pool = freshPool();
    const stranger = s.path('stranger.data');
    writeFileSync(stranger, '');
    truncateSync(stranger, statSync(pool.data).size);
    const metaBefore = md5(pool.meta);
    const r = dmthin('shrink', '--metadata', pool.meta, '--data', stranger, '--size', '32m');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stranger\.data reads as zeros at all \d+ mapped data blocks sampled: is it this pool's data file\?/);
    expect(md5(pool.meta)).toBe(metaBefore);
    expect(statSync(stranger).size).toBe(statSync(pool.data).size);
    // A shrunk pool's metadata with another, longer data file: the metadata's size alone never cuts it.
    const shrunk = freshPool();
    expect(dmthin('shrink', '--metadata', shrunk.meta, '--data', shrunk.data, '--size', '32m').code).toBe(0);
    expect(existsSync(`${shrunk.data}.dmthin-shrink`)).toBe(false);
    const other = freshPool();
    const otherMd5 = md5(other.data);
    const left = dmthin('shrink', '--metadata', shrunk.meta, '--data', other.data, '--size', '32m');
    expect(left.code).toBe(1);
    expect(left.stdout).toMatch(/no interrupted shrink of it is recorded .*: it is left as it is/);
    expect(md5(other.data)).toBe(otherMd5);
  });

  it('a full pool: says nothing can be given back and how to free space, not a smallest size equal to its own', () => {
    const xml = s.path('full.xml');
    writeFileSync(
      xml,
      '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="16">\n' +
        '  <device dev_id="1" mapped_blocks="16" transaction="0" creation_time="0" snap_time="0">\n' +
        '    <range_mapping origin_begin="0" data_begin="0" length="16" time="0"/>\n  </device>\n</superblock>\n',
    );
    const meta = emptyFile(s.path('full.meta'), 4 << 20);
    expect(dmthin('restore', '-i', xml, '-o', meta).code).toBe(0);
    const data = s.path('full.data');
    writeFileSync(data, randomBytes(16 * BLOCK));
    const r = dmthin('shrink', '--metadata', meta, '--data', data, '--size', `${8 * 64}k`, '--dry-run');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the pool is full \(16 of its 16 data blocks in use, none free below its end\): nothing can be given back; .*fstrim/);
  });

  describe('killed at any step', () => {
    const whole = freshPool();
    const done = dmthin('shrink', '--metadata', whole.meta, '--data', whole.data, '--size', '32m');
    const points = ['copy:1', 'copy:3', 'after-copy', 'metadata-write:1', 'metadata-write:6', 'metadata-write:12', 'before-superblock', 'after-superblock'];
    it.each(points)('at %s: the pool checks clean and reads as before; the same command again finishes it as an uninterrupted run does', (point) => {
      expect(done.code, done.stderr).toBe(0);
      const pool = freshPool();
      const killed = spawnSync(process.execPath, [cliPath, 'shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m'], {
        env: { ...process.env, DMTHIN_FAULT: `shrink:${point}` },
        encoding: 'utf8',
      });
      expect(killed.signal, `${point} was reached: ${killed.stderr}`).toBe('SIGKILL');
      expectBothChecksPass(pool.meta);
      expect(pictureOf(pool)).toEqual(before);
      // Stopped after the commit, before the cut: the doctor says so, with the command that finishes it.
      const doctor = JSON.parse(dmthin('doctor', '--metadata', pool.meta, '--data', pool.data, '--json').stdout);
      const unfinished = doctor.problems.filter((p: any) => p.code === 'unfinished_shrink');
      if (point === 'after-superblock')
        expect(unfinished).toEqual([
          expect.objectContaining({ severity: 'info', fix: expect.stringMatching(/dmthin shrink --metadata .* --size 33554432 finishes it/) }),
        ]);
      else expect(unfinished).toEqual([]);
      const again = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m');
      expect(again.code, again.stderr).toBe(0);
      expect(md5(pool.meta)).toBe(md5(whole.meta));
      expect(md5(pool.data)).toBe(md5(whole.data));
    });
  });

  it('refuses a data file the pool did not last run on (a disk image given as --data), dry run or not, both files byte-identical; a grown one with --data-may-be-larger', () => {
    const meta = s.path('wrongdata.meta');
    xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.meta.xz'), meta);
    const disk = s.path('wrongdata.disk');
    xzDecompress(join(projectRoot, 'fixtures', 'lvm-disk.pv.xz'), disk);
    const [m0, d0] = [md5(meta), md5(disk)];
    for (const dry of [[], ['--dry-run']]) {
      const r = dmthin('shrink', '--metadata', meta, '--data', disk, '--size', '40m', '--forget-deleted', ...dry);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /wrongdata\.disk is 83886080 bytes \(1280 data blocks\), but .* says the pool's data is 1024 blocks .*not the data the pool last ran on .*--data-may-be-larger/,
      );
    }
    expect([md5(meta), md5(disk)]).toEqual([m0, d0]);
    // The pool's own data, grown by a truncate the pool never took: the user's word lets it through, and every device reads as before.
    const data = s.path('wrongdata.data');
    xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.data.xz'), data);
    const was = pictureOf({ meta, data });
    truncateSync(data, 80 << 20);
    expect(dmthin('shrink', '--metadata', meta, '--data', data, '--size', '40m', '--forget-deleted').code).toBe(1);
    const ok = dmthin('shrink', '--metadata', meta, '--data', data, '--size', '40m', '--forget-deleted', '--data-may-be-larger');
    expect(ok.code, ok.stderr).toBe(0);
    expect(pictureOf({ meta, data })).toEqual(was);
  });

  describe.each(['recovery-a', 'recovery-c'])('the kernel-made pool %s', (name) => {
    it('shrinks to its smallest size: devices read the same, both thin_checks pass, nr_data_blocks says it', () => {
      const pool = { meta: s.path(`${name}.meta`), data: s.path(`${name}.data`) };
      xzDecompress(join(projectRoot, 'fixtures', `${name}.meta.xz`), pool.meta);
      xzDecompress(join(projectRoot, 'fixtures', `${name}.data.xz`), pool.data);
      const was = pictureOf(pool);
      // Its deleted devices can still be brought back: a shrink would write over them, so it needs the user's word.
      const before = readFileSync(pool.meta);
      const refused = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '32m');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/deleted thin devices? can still be brought back: thin \d+, \d+ blocks.*run again with --forget-deleted/);
      expect(readFileSync(pool.meta).equals(before)).toBe(true);
      const dry = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', '64k', '--json', '--forget-deleted');
      const min = Number(/smallest size that fits is (\d+) data blocks/.exec(dry.stderr)?.[1]);
      expect(min).toBeGreaterThan(0);
      const r = dmthin('shrink', '--metadata', pool.meta, '--data', pool.data, '--size', `${min * 64}k`, '--forget-deleted');
      expect(r.code, r.stderr).toBe(0);
      expect(pictureOf(pool)).toEqual(was);
      expectBothChecksPass(pool.meta);
      expect(nrDataBlocksOf(pool.meta)).toBe(min);
      expect(statSync(pool.data).size).toBe(min * BLOCK);
    });
  });
});

/** The first mapping leaf's block, from thin_dump's view of nothing: dmthin's own rmap is what is tested elsewhere; a leaf is found as the block whose node header says leaf with 8-byte values past the superblock. */
function firstLeaf(meta: string): number {
  const buf = readFileSync(meta);
  for (let b = 1; b < buf.length / 4096; b++) {
    const o = b * 4096;
    const flags = buf.readUInt32LE(o + 4);
    const nr = buf.readUInt32LE(o + 16);
    const valueSize = buf.readUInt32LE(o + 24);
    if (flags === 2 && valueSize === 8 && nr > 100) return b;
  }
  throw new Error('no mapping leaf found');
}
