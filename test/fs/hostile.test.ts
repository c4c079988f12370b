import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRanges } from '../../src/fs/describe.js';
import { diffFilesystems } from '../../src/fs/diff.js';
import { FsError } from '../../src/fs/errors.js';
import { isDir } from '../../src/fs/ext4/inode.js';
import { Ext4Volume } from '../../src/fs/ext4/volume.js';
import { FsReader } from '../../src/fs/reader.js';
import { scratch, skipReason } from '../support/env.js';
import { makeTree } from './ext4-tree.js';
import { debugfs, MemSource, mke2fs, mkext4, touch } from './images.js';

const tmp = scratch('dmthin-fs-hostile-');
afterAll(() => tmp.cleanup());
const noTools = skipReason(mke2fs !== undefined, 'e2fsprogs (mke2fs, debugfs) not installed: the hostile-image tests need them');

/** A small PRNG, so that a failure is reproducible from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Everything the fs layer offers, on one image: any failure must be an FsError. */
function exercise(before: Uint8Array, after: Uint8Array): void {
  let vol: Ext4Volume;
  const walk = (ino: number, depth: number) => {
    if (depth > 64) return;
    for (const e of vol.dirEntries(vol.inode(ino))) {
      if (e.name === '.' || e.name === '..') continue;
      const i = vol.inode(e.ino);
      if (isDir(i)) {
        vol.dirPath(e.ino);
        walk(e.ino, depth + 1);
      } else vol.readContent(i, 1 << 20);
    }
  };
  for (const step of [
    () => {
      vol = new Ext4Volume(new FsReader(new MemSource('hostile.img', after)));
      walk(2, 0);
    },
    () => diffFilesystems(new MemSource('before.img', before), new MemSource('hostile.img', after), [{ offset: 0, length: after.length }]),
    () => describeRanges(new MemSource('hostile.img', after), [{ offset: 0, length: after.length }]),
  ]) {
    try {
      step();
    } catch (e) {
      if (!(e instanceof FsError)) throw new Error(`not an FsError: ${(e as Error).stack}`);
      expect((e as Error).message).not.toContain('\n');
    }
  }
}

describe.skipIf(noTools)('the fs layer on hostile images', () => {
  for (const csum of ['metadata_csum', '^metadata_csum']) {
    it(`gives FsErrors, never an engine message or a hang, for images with metadata bytes garbled (150, FS_HOSTILE_CASES to change) (${csum})`, () => {
      mkdirSync(tmp.path(`tree-${csum}`));
      makeTree(tmp.path(`tree-${csum}`));
      const img = tmp.path(`base-${csum}.img`);
      mkext4(img, tmp.path(`tree-${csum}`), '4M', ['-b', '1024', '-O', csum]);
      const after = tmp.path(`after-${csum}.img`);
      execFileSync('cp', [img, after]);
      debugfs(after, ['rm /hello.txt', 'mkdir /newdir'], true);
      touch(after, ['/']);
      const base = new Uint8Array(readFileSync(img));
      const edited = new Uint8Array(readFileSync(after));
      const vol = new Ext4Volume(new FsReader(new MemSource('x', edited)));
      // The metadata worth garbling: inode tables, directory and extent blocks, descriptors.
      const targets: number[] = [1, 2];
      for (const g of vol.groupDescs()) for (let k = 0; k < Math.min(vol.inodeTableBlocks, 8); k++) targets.push(g.inodeTable + k);
      for (const ino of [2, 11, 12, 13, 14, 15]) {
        const m = vol.fileMap(vol.inode(ino));
        targets.push(...m.metaBlocks, ...m.extents.slice(0, 2).map((e) => e.physical));
      }
      const rand = rng(csum.length * 7919);
      for (let c = 0; c < Number(process.env.FS_HOSTILE_CASES ?? 150); c++) {
        const bad = edited.slice();
        const blk = targets[Math.floor(rand() * targets.length)];
        for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) {
          const at = blk * 1024 + Math.floor(rand() * 1024);
          bad[at] = Math.floor(rand() * 256);
        }
        const t0 = performance.now();
        exercise(base, bad);
        expect(performance.now() - t0, `case ${c}`).toBeLessThan(5000);
      }
    }, 300_000);
  }
});
