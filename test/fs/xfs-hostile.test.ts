/**
 * XFS images with their metadata garbled (AG headers, btree nodes, inode
 * chunks, directory blocks), given to everything the fs layer does with
 * XFS: the reader's walk, the file-level diff against the clean image, and
 * what the whole device holds. Each must answer or stop with one FsError
 * line, within 5 s: never an engine message, never a hang. mkfs.xfs makes
 * nothing under 300 MiB, and diff and describe here cover the whole device:
 * a case takes about two seconds, so fewer cases run than on ext4.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRanges } from '../../src/fs/describe.js';
import { diffFilesystems } from '../../src/fs/diff.js';
import { FsError } from '../../src/fs/errors.js';
import { FsReader } from '../../src/fs/reader.js';
import { XfsSpace } from '../../src/fs/xfs/space.js';
import { XfsVolume, xfsIsDir } from '../../src/fs/xfs/volume.js';
import { type ByteSource, FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { buildProto, mkfsXfs, xfsDb } from './xfs-images.js';

const noTools = skipReason(mkfsXfs !== undefined && xfsDb !== undefined, 'xfsprogs (mkfs.xfs, xfs_db) not installed: the hostile XFS tests need mkfs.xfs');
const tmp = scratch('dmthin-fs-xfs-hostile-');
afterAll(() => tmp.cleanup());

/** A file's bytes with some of them replaced (the image is 300 MiB, mostly holes: no copy per case). */
class PatchedSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly base: FileSource,
    readonly patches: Map<number, number>,
  ) {}
  get size(): number {
    return this.base.size;
  }
  readAt(dst: Uint8Array, position: number): void {
    this.base.readAt(dst, position);
    for (const [at, v] of this.patches) if (at >= position && at < position + dst.length) dst[at - position] = v;
  }
  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    this.readAt(dst, position);
  }
  close(): void {}
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function exercise(before: ByteSource, after: ByteSource, targets: { offset: number; length: number }[]): void {
  const walk = (vol: XfsVolume, ino: number, depth: number) => {
    if (depth > 64) return;
    for (const e of vol.dirEntries(vol.inode(ino))) {
      if (e.name === '.' || e.name === '..') continue;
      const i = vol.inode(e.ino);
      if (xfsIsDir(i)) {
        vol.dirPath(e.ino);
        walk(vol, e.ino, depth + 1);
      } else vol.readContent(i, 1 << 20);
    }
  };
  for (const [, step] of [
    [
      'walk',
      () => {
        const vol = new XfsVolume(new FsReader(after));
        walk(vol, vol.sb.rootIno, 0);
      },
    ],
    ['diff all', () => diffFilesystems(before, after, [{ offset: 0, length: after.size }])],
    ['diff', () => diffFilesystems(before, after, targets)],
    ['describe', () => describeRanges(after, [{ offset: 0, length: after.size }])],
  ] as const) {
    try {
      step();
    } catch (e) {
      if (!(e instanceof FsError)) throw new Error(`not an FsError: ${(e as Error).stack}`);
      expect((e as Error).message).not.toContain('\n');
    }
  }
}

describe.skipIf(noTools)('the fs layer on hostile XFS images', () => {
  for (const [title, opts] of [
    ['v5', ['-m', 'crc=1,finobt=1,reflink=1', '-b', 'size=4096']],
    ['v4', ['-m', 'crc=0,finobt=0,rmapbt=0,reflink=0', '-i', 'sparse=0', '-b', 'size=1024']],
  ] as [string, string[]][]) {
    it(`gives FsErrors, never an engine message or a hang, for diff and describe of XFS ${title} images with metadata bytes garbled (25 on a 300 MiB image, FS_HOSTILE_CASES to change)`, () => {
      const img = tmp.path(`${title}.img`);
      execFileSync(mkfsXfs as string, ['-q', '-f', ...opts, '-p', buildProto(tmp.path(`src-${title}`)), '-d', `file,name=${img},size=300m`], {
        stdio: 'ignore',
      });
      const base = new FileSource(img, 'filesystem');
      try {
        const vol = new XfsVolume(new FsReader(base));
        const space = new XfsSpace(vol);
        const bs = vol.sb.blockSize;
        // The metadata worth garbling: every AG's header block, btree nodes, inode chunks, directory blocks.
        const targets: number[] = [];
        for (let ag = 0; ag < vol.sb.agCount; ag++) {
          targets.push(ag * vol.sb.agBlocks);
          const l = space.layout(ag);
          for (const agb of l.btreeBlocks.keys()) targets.push(ag * vol.sb.agBlocks + agb);
          for (const c of l.chunks.slice(0, 2)) targets.push(ag * vol.sb.agBlocks + Math.floor(c.startIno / 2 ** vol.sb.inoPbLog));
        }
        for (const name of ['many', 'medium', 'big.bin']) {
          const root = vol.dirEntries(vol.inode(vol.sb.rootIno));
          const e = root.find((x) => x.name === name);
          if (e) for (const x of vol.extents(vol.inode(e.ino)).slice(0, 3)) targets.push(x.physical);
        }
        const rand = rng(title.length * 7919);
        for (let c = 0; c < Number(process.env.FS_HOSTILE_CASES ?? 25); c++) {
          const patches = new Map<number, number>();
          const blk = targets[Math.floor(rand() * targets.length)];
          for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) patches.set(blk * bs + Math.floor(rand() * bs), Math.floor(rand() * 256));
          const t0 = performance.now();
          exercise(base, new PatchedSource('hostile.img', base, patches), [{ offset: blk * bs, length: bs }]);
          expect(performance.now() - t0, `case ${c}: block ${blk}`).toBeLessThan(5000);
        }
      } finally {
        base.close();
      }
    }, 600_000);
  }
});
