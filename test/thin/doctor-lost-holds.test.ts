/**
 * The doctor names what a device's lost ranges held, from the filesystem
 * that survives around them: an ext4 image made by mke2fs, put into a pool
 * (dmthin restore of the mappings, its bytes in the data file), one mapping
 * leaf destroyed. The truth is debugfs on the undamaged image: icheck for
 * the owner of each lost block, ncheck for its path, stats for where the
 * inode tables lie.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { scratch, skipReason } from '../support/env.js';
import { writeBlock } from '../support/damage.js';
import { imagePool } from '../support/image-pool.js';
import { treeBlocks } from '../bench/recovery.js';
import { diagnose } from '../../src/thin/doctor/diagnose.js';
import { filesSource } from '../../src/thin/pool-source.js';
import { debugfs, debugfsBin, mke2fs, mkext4 } from '../fs/images.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const BS = 65536;

describe.skipIf(skipReason(mke2fs !== undefined && debugfsBin !== undefined, 'lost ranges as files: e2fsprogs is not installed'))(
  'what lost ranges held',
  () => {
    it('each lost block is named by its owner as debugfs icheck/ncheck name it on the undamaged image, or as free space', () => {
      // A filesystem with many files, spread over the device.
      const tree = tmp.path('tree');
      for (let d = 0; d < 40; d++) {
        mkdirSync(join(tree, `dir${d}`), { recursive: true });
        for (let f = 0; f < 20; f++) writeFileSync(join(tree, `dir${d}`, `f${f}.bin`), Buffer.alloc(20_000 + f * 3000, d * 20 + f + 1));
      }
      const img = tmp.path('fs.img');
      mkext4(img, tree, '64M', ['-b', '4096']);
      const bytes = readFileSync(img);
      const { meta, data } = imagePool(bytes, (n) => tmp.path(n), 'pool');
      const leaves = treeBlocks(meta, 1).leaves;
      expect(leaves.length).toBeGreaterThan(2);
      // A leaf past the first: the superblock and group descriptors survive.
      writeBlock(meta, leaves[1], new Uint8Array(4096));

      const r = diagnose(filesSource(meta, data));
      const dev = r.devices.find((d) => d.deviceId === 1);
      expect(dev?.lost.length).toBeGreaterThan(0);
      expect(dev?.lostHoldsUnknown).toBeUndefined();
      checkHolds(img, dev?.lost ?? [], dev?.lostHolds ?? []);

      // repair --data says the same of the ranges the repaired pool lacks, and export of what it wrote as zeros.
      const out = tmp.path('repaired.meta');
      writeFileSync(out, Buffer.alloc(4 << 20));
      const rep = dmthin('repair', '-i', meta, '-o', out, '--data', data, '--json');
      expect(rep.code, rep.stderr).toBe(0);
      const losses = JSON.parse(rep.stdout).losses;
      expect(losses.map((l: { device_id: number }) => l.device_id)).toEqual([1]);
      expect(losses[0].lost).toEqual(dev?.lost);
      checkHolds(img, losses[0].lost, losses[0].lost_holds);
      const repText = dmthin('repair', '-i', meta, '-o', out, '--data', data);
      expect(repText.stderr).toMatch(/LOST \d+ bytes of thin device 1 .*\nthey held .*\n {2}bytes \d+\.\.\d+: /);
      const repNoData = dmthin('repair', '-i', meta, '-o', out);
      expect(repNoData.stderr).toMatch(/give --data DATA to be told what they held/);

      const ex = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '-o', tmp.path('dev1.img'), '--size', '64M', '--json');
      expect(ex.code).toBe(1);
      const exr = JSON.parse(ex.stdout);
      const exLost = exr.lost.map((l: { from: number; to: number }) => ({ offset: l.from, length: l.to - l.from }));
      expect(exLost.length).toBeGreaterThan(0);
      checkHolds(img, exLost, exr.lost_holds);
      const exText = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '-o', tmp.path('dev1.img'), '--size', '64M');
      expect(exText.stderr).toMatch(/they held \(from the filesystem, as far as it survives\): \d+ files?[;,].*\n {2}bytes \d+\.\.\d+: /);

      // The text names them too.
      const t = dmthin('doctor', meta, '--data', data);
      expect(t.stdout + t.stderr).toMatch(/they held/);
    });

    it("a raw device's last leaf lost: the range runs on to its filesystem's end, holds every lost mapping, and doctor, repair and export agree", () => {
      const tree = tmp.path('tree3');
      for (let d = 0; d < 30; d++) {
        mkdirSync(join(tree, `d${d}`), { recursive: true });
        for (let f = 0; f < 20; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), Buffer.alloc(25_000 + f * 2000, d * 20 + f + 7));
      }
      const img = tmp.path('last.img');
      mkext4(img, tree, '64M', ['-b', '4096']);
      const { meta, data } = imagePool(readFileSync(img), (n) => tmp.path(n), 'last');
      const mappedBefore = JSON.parse(dmthin('dump', '-f', 'json', meta).stdout) as {
        devices: Array<{ mappings: number[][] }>;
      };
      const leaves = treeBlocks(meta, 1).leaves;
      expect(leaves.length).toBeGreaterThan(1);
      writeBlock(meta, leaves[leaves.length - 1], new Uint8Array(4096));
      const dev = diagnose(filesSource(meta, data)).devices.find((d) => d.deviceId === 1);
      const lost = dev?.lost ?? [];
      // The filesystem says the device is 64 MiB: the last range ends there, not where the missing count cut it.
      expect(lost[lost.length - 1].offset + lost[lost.length - 1].length).toBe(64 << 20);
      expect(dev?.lostToEnd).toBeUndefined();
      // Every mapping the undamaged pool had and the damaged one lost lies in a lost range.
      const survivingDump = dmthin('dump', '--repair', '-f', 'json', meta);
      const surviving = new Set<number>();
      for (const [v0, , n] of (JSON.parse(survivingDump.stdout) as typeof mappedBefore).devices[0].mappings) for (let i = 0; i < n; i++) surviving.add(v0 + i);
      const inLost = (v: number) => lost.some((r) => v * BS >= r.offset && v * BS < r.offset + r.length);
      let missing = 0;
      for (const [v0, , n] of mappedBefore.devices[0].mappings)
        for (let i = 0; i < n; i++) {
          const v = v0 + i;
          if (surviving.has(v)) continue;
          missing++;
          expect(inLost(v), `virtual block ${v}`).toBe(true);
        }
      expect(missing).toBeGreaterThan(0);
      // repair --data and export --size (the filesystem's size) give the same ranges.
      const out = tmp.path('last-repaired.meta');
      writeFileSync(out, Buffer.alloc(4 << 20));
      const rep = JSON.parse(dmthin('repair', '-i', meta, '-o', out, '--data', data, '--json').stdout);
      expect(rep.losses[0].lost).toEqual(lost);
      const ex = JSON.parse(
        dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '-o', tmp.path('last.img.out'), '--size', '64M', '--json').stdout,
      );
      expect(ex.lost.map((l: { from: number; to: number }) => ({ offset: l.from, length: l.to - l.from }))).toEqual(lost);
      checkHolds(img, lost, dev?.lostHolds ?? []);
    });

    it('on a guest disk (an MBR, ext4 in partition 1 at 1 MiB), each lost block is named in its partition as debugfs names it there', () => {
      const tree = tmp.path('tree2');
      for (let d = 0; d < 20; d++) {
        mkdirSync(join(tree, `d${d}`), { recursive: true });
        for (let f = 0; f < 20; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), Buffer.alloc(30_000 + f * 1000, d * 20 + f + 1));
      }
      const part = tmp.path('part.img');
      mkext4(part, tree, '32M', ['-b', '4096']);
      const START = 1 << 20;
      const disk = Buffer.alloc(START + (32 << 20));
      readFileSync(part).copy(disk, START);
      disk[446 + 4] = 0x83;
      disk.writeUInt32LE(START / 512, 446 + 8);
      disk.writeUInt32LE((32 << 20) / 512, 446 + 12);
      disk[510] = 0x55;
      disk[511] = 0xaa;
      const { meta, data } = imagePool(disk, (n) => tmp.path(n), 'guest');
      const leaves = treeBlocks(meta, 1).leaves;
      expect(leaves.length).toBeGreaterThan(1);
      // The first leaf lost takes the partition table with it: what the ranges held cannot be told, and is not guessed.
      const lost0 = tmp.path('guest0.meta');
      writeFileSync(lost0, readFileSync(meta));
      writeBlock(lost0, leaves[0], new Uint8Array(4096));
      const r0 = diagnose(filesSource(lost0, data)).devices.find((d) => d.deviceId === 1);
      expect(r0?.lost.length).toBeGreaterThan(0);
      expect(r0?.lostHolds).toBeUndefined();
      expect(r0?.lostHoldsUnknown).toMatch(/no ext2\/3\/4 or XFS superblock/);

      writeBlock(meta, leaves[1], new Uint8Array(4096));
      const r = diagnose(filesSource(meta, data));
      const dev = r.devices.find((d) => d.deviceId === 1);
      expect(dev?.lostHoldsUnknown, dev?.lostHoldsUnknown).toBeUndefined();
      const holds = dev?.lostHolds ?? [];
      const lostBytes = (dev?.lost ?? []).reduce((n, x) => n + x.length, 0);
      expect(lostBytes).toBeGreaterThan(0);
      expect(holds.reduce((n, h) => n + h.length, 0)).toBe(lostBytes);
      // Named by partition 1's filesystem, read in its own offsets.
      expect(holds.every((h) => h.offset >= START && h.structure.startsWith('partition 1: '))).toBe(true);
      const inside = holds.map((h) => ({ ...h, offset: h.offset - START, structure: h.structure.replace(/^partition 1: /, '') }));
      checkHolds(part, inside, inside);
    });
  },
);

type Hold = { offset: number; length: number; structure: string; owners?: { inode: number; path?: string }[] };

/** Checks `holds` against debugfs on the undamaged image: every lost byte described once, each block's owner as icheck names it, paths as ncheck does. */
function checkHolds(img: string, lost: readonly { offset: number; length: number }[], holds: readonly Hold[]): void {
  expect(holds.length).toBeGreaterThan(0);
  // Every lost byte is described, once.
  const lostBytes = lost.reduce((n, x) => n + x.length, 0);
  expect(holds.reduce((n, h) => n + h.length, 0)).toBe(lostBytes);

  // The truth for every 4 KiB block of the lost ranges.
  const blocks: number[] = [];
  for (const h of holds) for (let o = h.offset; o < h.offset + h.length; o += 4096) blocks.push(o / 4096);
  const owner = new Map<number, number>();
  const chunks = (xs: number[]): number[][] => Array.from({ length: Math.ceil(xs.length / 100) }, (_, i) => xs.slice(i * 100, i * 100 + 100));
  for (const line of debugfs(
    img,
    chunks(blocks).map((c) => `icheck ${c.join(' ')}`),
  ).split('\n')) {
    const m = /^(\d+)\s+(\d+)$/.exec(line.trim());
    if (m) owner.set(Number(m[1]), Number(m[2]));
  }
  const inodes = [...new Set(owner.values())];
  const pathOf = new Map<number, string>();
  for (const line of debugfs(
    img,
    chunks(inodes).map((c) => `ncheck ${c.join(' ')}`),
  ).split('\n')) {
    const m = /^(\d+)\s+(\S+)$/.exec(line.trim());
    if (m) pathOf.set(Number(m[1]), m[2]);
  }
  const itables = [...debugfs(img, ['stats']).matchAll(/Inode table at (\d+)-(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  let files = 0;
  let named = 0;
  for (const h of holds) {
    for (let o = h.offset; o < h.offset + h.length; o += 4096) {
      const b = o / 4096;
      const ino = owner.get(b);
      if (ino !== undefined) {
        files++;
        expect(
          h.owners?.map((x) => x.inode),
          `block ${b}: ${h.structure}`,
        ).toContain(ino);
        const p = h.owners?.find((x) => x.inode === ino)?.path;
        // A path is never wrong; it is unknown where the directory naming the file was lost too.
        if (p !== undefined) {
          expect(p, `inode ${ino}`).toBe(pathOf.get(ino));
          named++;
        }
      } else if (itables.some(([a, z]) => b >= a && b <= z)) {
        expect(h.structure, `block ${b}`).toMatch(/inode table/);
      }
    }
  }
  expect(files).toBeGreaterThan(0);
  expect(named).toBeGreaterThan(0);
}
