import { afterAll, describe, expect, it } from 'vitest';
import { describeRanges } from '../../src/fs/describe.js';
import { FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { makeTree } from './ext4-tree.js';
import { debugfs, mke2fs, mkext4 } from './images.js';
import { mkdirSync } from 'node:fs';

const tmp = scratch('dmthin-fs-describe-');
afterAll(() => tmp.cleanup());
const noTools = skipReason(mke2fs !== undefined, 'e2fsprogs (mke2fs, debugfs) not installed: the lost-range tests need them as the oracle');

describe.skipIf(noTools)('describeRanges', () => {
  const img = tmp.path('fs.img');
  if (!noTools) {
    mkdirSync(tmp.path('tree'));
    makeTree(tmp.path('tree'));
    mkext4(img, tmp.path('tree'), '32M', ['-b', '1024', '-O', 'metadata_csum']);
  }
  const run = (offset: number, length: number) => {
    const src = new FileSource(img, 'filesystem');
    try {
      return describeRanges(src, [{ offset, length }]);
    } finally {
      src.close();
    }
  };
  const stats = () => debugfs(img, ['stats']);

  it('names the superblock, the group descriptors and group 1 bitmaps and inode table where debugfs stats puts them', () => {
    expect(run(1024, 1024).parts).toEqual([{ offset: 1024, length: 1024, structure: 'superblock' }]);
    expect(run(2048, 1024).parts[0].structure).toBe('group descriptors');
    const m = /Group\s+1: block bitmap at (\d+), inode bitmap at (\d+), inode table at (\d+)/.exec(stats());
    const [bb, ib, it0] = (m as RegExpExecArray).slice(1).map(Number);
    expect(run(bb * 1024, 1024).parts[0].structure).toBe('block bitmap of group 1');
    expect(run(ib * 1024, 1024).parts[0].structure).toBe('inode bitmap of group 1');
    const ipg = Number(/Inodes per group:\s+(\d+)/.exec(stats())?.[1]);
    // Two inode table blocks of 1 KiB hold 8 inodes of 256 bytes: one part for both.
    expect(run(it0 * 1024, 2048).parts).toEqual([{ offset: it0 * 1024, length: 2048, structure: `inode table of group 1 (inodes ${ipg + 1}..${ipg + 8})` }]);
  });

  it("names the journal's blocks as debugfs blocks <8> lists them", () => {
    const j = debugfs(img, ['blocks <8>']).trim().split(/\s+/).map(Number);
    expect(run(j[10] * 1024, 1024).parts[0].structure).toBe('journal');
  });

  it('names file and directory blocks by path and inode, as icheck and ncheck do, and free space as free', () => {
    const blk = debugfs(img, ['blocks /a/b/c/d/e/f/deep.txt']).trim().split(/\s+/).map(Number)[0];
    const ic = /\t(\d+)/.exec(debugfs(img, [`icheck ${blk}`]).split('\n')[1]);
    const ino = Number(ic?.[1]);
    const nc = debugfs(img, [`ncheck ${ino}`])
      .split('\n')[1]
      .split('\t')[1];
    expect(run(blk * 1024, 1024).parts).toEqual([{ offset: blk * 1024, length: 1024, structure: 'file', owners: [{ inode: ino, path: nc }] }]);
    const dblk = debugfs(img, ['blocks /many']).trim().split(/\s+/).map(Number)[1];
    const dino = Number(/\t(\d+)/.exec(debugfs(img, [`icheck ${dblk}`]).split('\n')[1])?.[1]);
    expect(run(dblk * 1024, 1024).parts[0]).toMatchObject({ structure: 'directory', owners: [{ inode: dino, path: '/many' }] });
    const last = Number(/Block count:\s+(\d+)/.exec(stats())?.[1]) - 1;
    expect(debugfs(img, [`testb ${last}`])).toContain('not in use');
    expect(run(last * 1024, 1024).parts[0].structure).toBe('free space');
  });

  it('merges neighbouring blocks of one file into one part', () => {
    const blocks = debugfs(img, ['blocks /big.bin']).trim().split(/\s+/).map(Number);
    const parts = run(blocks[20] * 1024, 4096).parts;
    expect(parts.length).toBe(1);
    expect(parts[0]).toMatchObject({ length: 4096, structure: 'file', owners: [{ path: '/big.bin' }] });
  });
});
