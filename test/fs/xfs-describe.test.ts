/**
 * What each block of an XFS image is, as describeRanges names it, held to
 * xfs_db's own account of every block (blockget -n, then blockuse -n):
 * AG headers, btree nodes and free lists, inode chunks, the log, free
 * space, and the inode (and path) owning each data, directory and bmap
 * block.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRanges } from '../../src/fs/describe.js';
import { FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { buildProto, mkfsXfs, xdb, xfsDb } from './xfs-images.js';

const noTools = skipReason(
  mkfsXfs !== undefined && xfsDb !== undefined,
  'xfsprogs (mkfs.xfs, xfs_db) not installed: the XFS describe tests need xfs_db as the oracle',
);
const tmp = scratch('dmthin-fs-xfs-describe-');
afterAll(() => tmp.cleanup());

/** xfs_db's type of a block, in the words describeRanges uses (owner inodes kept apart). */
function theirKind(type: string): string {
  if (type === 'sb' || type === 'agf' || type === 'agi' || type === 'agfl') return 'headers';
  if (type === 'free1' || type === 'free2') return 'free space';
  const names: Record<string, string> = {
    btbno: 'free-space btree (by block)',
    btcnt: 'free-space btree (by size)',
    btino: 'inode btree',
    btfino: 'free-inode btree',
    btrefcnt: 'reference-count btree',
    btrmap: 'reverse-mapping btree',
    freelist: 'free list',
    inode: 'inodes',
    log: 'log',
    data: 'owned',
    dir: 'owned',
    bmap: 'owned',
    symlink: 'owned',
  };
  return names[type] ?? type;
}

function ourKind(structure: string): string {
  if (/^AG \d+ headers/.test(structure)) return 'headers';
  if (/^inodes \d+\.\.\d+$/.test(structure)) return 'inodes';
  if (structure === 'file' || structure === 'directory') return 'owned';
  return structure.replace(/ of AG \d+.*$/, '');
}

for (const [title, opts] of [
  ['v5 4k (finobt, reflink, sparse inodes)', ['-m', 'crc=1,reflink=1,finobt=1', '-b', 'size=4096']],
  ['v5 1k with the reverse-mapping btree', ['-m', 'crc=1,rmapbt=1', '-b', 'size=1024']],
  ['v4 4k', ['-m', 'crc=0,finobt=0,rmapbt=0,reflink=0', '-i', 'sparse=0']],
] as [string, string[]][]) {
  describe.skipIf(noTools)(`describeRanges on XFS ${title}`, () => {
    const img = tmp.path(`${title.replace(/\W+/g, '-')}.img`);
    if (!noTools) {
      const proto = buildProto(tmp.path(`src-${title.replace(/\W+/g, '-')}`));
      execFileSync(mkfsXfs as string, ['-q', '-f', ...opts, '-p', proto, '-d', `file,name=${img},size=300m`], { stdio: 'ignore' });
    }

    it("names every block of the filesystem as xfs_db's blockuse does: headers, btrees, free lists, inodes, log, free space, and each owner's inode and path", () => {
      const sb = xdb(img, ['sb 0', 'p blocksize dblocks agblocks agblklog agcount']);
      const num = (f: string) => Number(new RegExp(`${f} = (\\d+)`).exec(sb)?.[1]);
      const [bs, dblocks, agblocks, agblklog, agcount] = ['blocksize', 'dblocks', 'agblocks', 'agblklog', 'agcount'].map(num);
      const theirs = new Map<number, { kind: string; inode?: number; path?: string }>();
      // blockuse stops at an AG's end: one call per AG, from its first block (AG number above agblklog bits).
      const perAg = Array.from({ length: agcount }, (_, ag) => [
        `fsblock ${ag * 2 ** agblklog}`,
        `blockuse -n -c ${Math.min(agblocks, dblocks - ag * agblocks)}`,
      ]);
      for (const line of xdb(img, ['blockget -n', ...perAg.flat()]).split('\n')) {
        const m = /^block \d+ \((\d+)\/(\d+)\) type (\S+)(?: inode (\d+)(?: (\S.*))?)?$/.exec(line.trim());
        if (!m) continue;
        // xfs_db counts blocks AG by AG at 2^agblklog each; the device's own numbering packs AGs at agblocks.
        const n = Number(m[1]) * agblocks + Number(m[2]);
        theirs.set(n, { kind: theirKind(m[3]), ...(m[4] ? { inode: Number(m[4]) } : {}), ...(m[5] ? { path: `/${m[5]}` } : {}) });
      }
      expect(agblklog).toBeGreaterThan(0);
      expect(theirs.size).toBe(dblocks);
      const src = new FileSource(img, 'filesystem');
      let ours: ReturnType<typeof describeRanges>;
      try {
        ours = describeRanges(src, [{ offset: 0, length: dblocks * bs }]);
      } finally {
        src.close();
      }
      const seen = new Set<string>();
      let owned = 0;
      let covered = 0;
      for (const p of ours.parts) {
        for (let n = p.offset / bs; n < (p.offset + p.length) / bs; n++) {
          covered++;
          const t = theirs.get(n);
          const kind = ourKind(p.structure);
          expect({ block: n, kind }).toEqual({ block: n, kind: t?.kind });
          seen.add(kind);
          if (kind === 'owned') {
            owned++;
            expect({ block: n, inode: p.owners?.[0].inode }).toEqual({ block: n, inode: t?.inode });
            if (t?.path) expect({ block: n, path: p.owners?.[0].path }).toEqual({ block: n, path: t.path });
          }
        }
      }
      expect(covered).toBe(dblocks);
      expect(owned).toBeGreaterThan(50);
      if (title.includes('reverse-mapping')) expect(seen).toContain('reverse-mapping btree');
      for (const k of ['headers', 'free-space btree (by block)', 'inode btree', 'inodes', 'log', 'free space', 'owned']) expect(seen).toContain(k);
    });
  });
}
