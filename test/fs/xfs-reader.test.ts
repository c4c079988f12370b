import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { detectFilesystem } from '../../src/fs/detect.js';
import { FsChecksumError } from '../../src/fs/errors.js';
import { FsReader } from '../../src/fs/reader.js';
import { XfsVolume, xfsIsDir } from '../../src/fs/xfs/volume.js';
import { FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { MemSource } from './images.js';
import { buildProto, mkfsXfs, xdb, xfsDb } from './xfs-images.js';

const noTools = skipReason(
  mkfsXfs !== undefined && xfsDb !== undefined,
  'xfsprogs (mkfs.xfs, xfs_db) not installed: the XFS reader tests need them as the oracle',
);

const tmp = scratch('dmthin-fs-xfs-');
afterAll(() => tmp.cleanup());

/** xfs_db ls: name -> inode. */
function oracleLs(img: string, path: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of xdb(img, [`ls ${path}`]).split('\n')) {
    const m = /^\d+\s+(\d+)\s+\S+\s+0x[0-9a-f]+\s+\d+\s+(.*) \(good\)$/.exec(line.trim());
    if (m) out.set(m[2], Number(m[1]));
  }
  return out;
}

for (const [title, opts] of [
  ['v5 (crc=1, ftype) 4k', ['-m', 'crc=1', '-b', 'size=4096']],
  ['v4 (crc=0) 1k', ['-m', 'crc=0', '-b', 'size=1024']],
  ['v5 4k, 8k directory blocks', ['-m', 'crc=1', '-n', 'size=8192']],
] as [string, string[]][]) {
  describe.skipIf(noTools)(`XfsVolume on ${title} against xfs_db`, () => {
    const img = tmp.path(`${title.replace(/\W+/g, '-')}.img`);
    const src = tmp.path(`src-${title.replace(/\W+/g, '-')}`);
    if (!noTools) {
      const proto = buildProto(src);
      // crc=0 needs the older on-disk options off too.
      const extra = opts.includes('crc=0') ? ['-m', 'finobt=0,rmapbt=0,reflink=0', '-i', 'sparse=0'] : [];
      execFileSync(mkfsXfs as string, ['-q', '-f', ...opts, ...extra, '-p', proto, '-d', `file,name=${img},size=300m`], { stdio: 'ignore' });
    }
    const open = () => new XfsVolume(new FsReader(new FileSource(img, 'filesystem')));
    const lookup = (vol: XfsVolume, path: string) => {
      let ino = vol.sb.rootIno;
      for (const name of path.split('/').filter(Boolean)) ino = vol.dirEntries(vol.inode(ino)).find((e) => e.name === name)?.ino ?? -1;
      return ino;
    };

    it('is detected as xfs', () => {
      const s = new FileSource(img, 'filesystem');
      expect(detectFilesystem(s)?.type).toBe('xfs');
      s.close();
    });

    it('lists each directory (short form, block, leaf/node) with the inodes xfs_db ls gives', () => {
      const vol = open();
      for (const path of ['/', '/medium', '/many', '/a/b/c']) {
        const ours = new Map(vol.dirEntries(vol.inode(lookup(vol, path))).map((e) => [e.name, e.ino]));
        expect(Object.fromEntries(ours), path).toEqual(Object.fromEntries(oracleLs(img, path)));
      }
    });

    it("reads files and symlinks as the prototype wrote them, and sizes as xfs_db's inode core gives", () => {
      const vol = open();
      const big = vol.inode(lookup(vol, '/big.bin'));
      expect(Buffer.from(vol.readContent(big, 1 << 30)).equals(readFileSync(`${src}/big`))).toBe(true);
      expect(xdb(img, [`inode ${big.ino}`, 'p core.size'])).toContain(`core.size = ${big.size}`);
      expect(vol.symlinkTarget(vol.inode(lookup(vol, '/short-link')))).toBe('hello.txt');
      expect(vol.symlinkTarget(vol.inode(lookup(vol, '/long-link')))).toBe(`${'y'.repeat(200)}/target`);
      const ext = vol.extents(big);
      const bmap = xdb(img, [`inode ${big.ino}`, 'bmap']);
      expect(bmap).toContain(`count ${ext[0].length}`);
    });

    it("finds a deep directory's path by its '..' entries", () => {
      const vol = open();
      const c = lookup(vol, '/a/b/c');
      expect(xfsIsDir(vol.inode(c))).toBe(true);
      expect(vol.dirPath(c)).toBe('/a/b/c');
    });

    if (opts.includes('crc=1')) {
      it('rejects an inode whose v5 CRC does not match, naming the inode and block', () => {
        const bytes = new Uint8Array(readFileSync(img));
        const vol = open();
        const ino = lookup(vol, '/hello.txt');
        const off = vol.inodeOffset(ino);
        bytes[off + 57] ^= 0x40;
        const bad = new XfsVolume(new FsReader(new MemSource('bad.img', bytes)));
        expect(() => bad.inode(ino)).toThrow(FsChecksumError);
        expect(() => bad.inode(ino)).toThrow(
          new RegExp(`^bad\\.img: byte ${off}: xfs inode ${ino}: bad checksum in block ${Math.floor(off / vol.sb.blockSize)}`),
        );
      });
    }
  });
}
