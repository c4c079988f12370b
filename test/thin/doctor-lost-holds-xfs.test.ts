/**
 * The doctor names what a device's lost ranges held on XFS, from the
 * filesystem that survives around them: an image made by mkfs.xfs from a
 * prototype, put into a pool (dmthin restore of its mappings, its bytes in
 * the data file), one mapping leaf destroyed. The truth is xfs_db on the
 * undamaged image: blockget/blockuse for what each lost block was and
 * which inode and path owned it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { dmthin } from '../support/cli.js';
import { scratch, skipReason } from '../support/env.js';
import { writeBlock } from '../support/damage.js';
import { imagePool } from '../support/image-pool.js';
import { treeBlocks } from '../bench/recovery.js';
import { diagnose } from '../../src/thin/doctor/diagnose.js';
import { filesSource } from '../../src/thin/pool-source.js';
import { mkfsXfs, xdb, xfsDb } from '../fs/xfs-images.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const _BS = 65536;

describe.skipIf(skipReason(mkfsXfs !== undefined && xfsDb !== undefined, 'lost ranges as files on XFS: xfsprogs is not installed'))(
  'what lost ranges held, on XFS',
  () => {
    it('each lost block is named as xfs_db blockuse names it on the undamaged image: its owner inode and path, inodes, btrees, log, free space', () => {
      // A prototype with many files over many directories, dense enough that a lost leaf lies within one AG's files.
      const src = tmp.path('src');
      mkdirSync(src);
      const lines = ['/dummy', '0 0', 'd--755 0 0'];
      for (let d = 0; d < 40; d++) {
        lines.push(`dir${d} d--755 0 0`);
        for (let f = 0; f < 20; f++) {
          const p = join(src, `d${d}f${f}`);
          writeFileSync(p, Buffer.alloc(150_000 + f * 3000, d * 20 + f + 1));
          lines.push(`f${f}.bin ---644 0 0 ${p}`);
        }
        lines.push('$');
      }
      lines.push('$');
      writeFileSync(join(src, 'proto'), `${lines.join('\n')}\n`);
      const img = tmp.path('fs.img');
      execFileSync(mkfsXfs as string, ['-q', '-f', '-m', 'crc=1', '-b', 'size=4096', '-p', join(src, 'proto'), '-d', `file,name=${img},size=300m`], {
        stdio: 'ignore',
      });
      const bytes = readFileSync(img);
      const { meta, data } = imagePool(bytes, (n) => tmp.path(n), 'pool');
      const leaves = treeBlocks(meta, 1).leaves;
      expect(leaves.length).toBeGreaterThan(2);
      // A leaf past the first: AG 0's headers and the root directory survive.
      writeBlock(meta, leaves[1], new Uint8Array(4096));

      const r = diagnose(filesSource(meta, data));
      const dev = r.devices.find((d) => d.deviceId === 1);
      expect(dev?.lost.length).toBeGreaterThan(0);
      expect(dev?.lostHoldsUnknown).toBeUndefined();
      const holds = dev?.lostHolds ?? [];
      const lostBytes = (dev?.lost ?? []).reduce((n, x) => n + x.length, 0);
      expect(holds.reduce((n, h) => n + h.length, 0)).toBe(lostBytes);

      // xfs_db's account of each lost block (AG/block as it prints them; the device packs AGs at agblocks).
      const sb = xdb(img, ['sb 0', 'p agblocks agblklog']);
      const agblocks = Number(/agblocks = (\d+)/.exec(sb)?.[1]);
      const agblklog = Number(/agblklog = (\d+)/.exec(sb)?.[1]);
      const blocks: number[] = [];
      for (const h of holds) for (let o = h.offset; o < h.offset + h.length; o += 4096) blocks.push(o / 4096);
      // One blockuse per run of blocks within an AG (it stops at an AG's end).
      const cmds: string[] = [];
      for (let k = 0; k < blocks.length; ) {
        let j = k + 1;
        while (j < blocks.length && blocks[j] === blocks[j - 1] + 1 && blocks[j] % agblocks !== 0) j++;
        const b = blocks[k];
        cmds.push(`fsblock ${Math.floor(b / agblocks) * 2 ** agblklog + (b % agblocks)}`, `blockuse -n -c ${j - k}`);
        k = j;
      }
      const truth = new Map<number, { type: string; inode?: number; path?: string }>();
      for (const line of xdb(img, ['blockget -n', ...cmds]).split('\n')) {
        const m = /^block \d+ \((\d+)\/(\d+)\) type (\S+)(?: inode (\d+)(?: (\S.*))?)?$/.exec(line.trim());
        if (m)
          truth.set(Number(m[1]) * agblocks + Number(m[2]), { type: m[3], ...(m[4] ? { inode: Number(m[4]) } : {}), ...(m[5] ? { path: `/${m[5]}` } : {}) });
      }
      expect(truth.size).toBe(blocks.length);
      const kinds = new Set<string>();
      let files = 0;
      let named = 0;
      let unknown = 0;
      for (const h of holds) {
        for (let o = h.offset; o < h.offset + h.length; o += 4096) {
          const b = o / 4096;
          const t = truth.get(b);
          kinds.add(t?.type ?? '');
          if (t?.inode !== undefined) {
            // The owner is beyond knowing where its own inode was lost (or its AG's inode btree).
            const inodeLost = holds.some((x) => {
              const m = /^inodes (\d+)\.\.(\d+)$/.exec(x.structure);
              return m !== null && t.inode !== undefined && t.inode >= Number(m[1]) && t.inode <= Number(m[2]);
            });
            if (inodeLost || h.structure.startsWith('unknown: ')) {
              expect(h.structure, `block ${b}`).toMatch(/^unknown/);
              unknown++;
              continue;
            }
            files++;
            expect(
              h.owners?.map((x) => x.inode),
              `block ${b}: ${h.structure}`,
            ).toContain(t.inode);
            const p = h.owners?.find((x) => x.inode === t.inode)?.path;
            // A path is never wrong; it is unknown where the directory naming the file was lost too.
            if (p !== undefined && t.path !== undefined) {
              expect(p, `inode ${t.inode}`).toBe(t.path);
              named++;
            }
          } else if (h.structure.startsWith('unknown: ')) {
            // The AG's headers or btrees are lost themselves: what else its blocks were cannot be told.
            expect(h.structure).toMatch(/xfs (AGF|AGI|AGFL|free-space btree|inode btree|free-inode btree|reference-count btree)/);
            unknown++;
          } else if (t?.type === 'inode') expect(h.structure, `block ${b}`).toMatch(/^inodes \d+\.\.\d+$/);
          else if (t?.type === 'free1' || t?.type === 'free2') expect(h.structure, `block ${b}`).toBe('free space');
          else if (t?.type === 'log') expect(h.structure, `block ${b}`).toBe('log');
        }
      }
      expect(files).toBeGreaterThan(0);
      expect(named).toBeGreaterThan(0);
      // 16 MiB of AG 0 lost: over a thousand file blocks named by inode and path, with inode chunks
      // among them (whose files' blocks are then unknown owners, as they must be).
      expect(files).toBeGreaterThan(1000);
      expect(unknown).toBeLessThan(files * 4);
      expect(kinds).toContain('inode');
      const t = dmthin('doctor', meta, '--data', data);
      expect(t.stdout + t.stderr).toMatch(/they held/);
    });
  },
);
