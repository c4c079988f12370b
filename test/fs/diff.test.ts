import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { diffFilesystems, type FileChange } from '../../src/fs/diff.js';
import { FileSource } from '../../src/io/byte-source.js';
import { scratch, skipReason } from '../support/env.js';
import { makeTree } from './ext4-tree.js';
import { debugfs, differingRanges, dockerDiffOracle as expected, mke2fs, mkext4, touch } from './images.js';

const tmp = scratch('dmthin-fs-diff-');
afterAll(() => tmp.cleanup());
const noTools = skipReason(mke2fs !== undefined, 'e2fsprogs (mke2fs, debugfs) not installed: the file-level diff tests need them as the oracle');

const tree = tmp.path('tree');
const local = tmp.path('local');
if (!noTools) {
  mkdirSync(tree);
  makeTree(tree);
  mkdirSync(`${tree}/swap`);
  writeFileSync(`${tree}/swap/inside`, 'in the directory that becomes a file\n');
  mkdirSync(`${tree}/gone/sub`, { recursive: true });
  writeFileSync(`${tree}/gone/sub/x`, 'x\n');
  mkdirSync(local);
  writeFileSync(`${local}/new.txt`, 'a new file\n');
  writeFileSync(`${local}/other.txt`, 'other content, longer than before\n');
}

function ours(beforeImg: string, afterImg: string): { lines: string[]; changes: FileChange[]; bytesRead: number } {
  const x = new FileSource(beforeImg, 'filesystem');
  const y = new FileSource(afterImg, 'filesystem');
  try {
    const d = diffFilesystems(x, y, differingRanges(beforeImg, afterImg));
    const letter = { added: 'A', changed: 'C', deleted: 'D' } as const;
    return { lines: d.changes.map((c) => `${letter[c.kind]} ${c.path}`).sort(), changes: d.changes, bytesRead: d.bytesRead };
  } finally {
    x.close();
    y.close();
  }
}

function scenario(base: string, name: string, edit: (img: string) => void): { before: string; after: string } {
  const after = tmp.path(`${name}.img`);
  execFileSync('cp', ['--sparse=always', base, after]);
  edit(after);
  return { before: base, after };
}

const ino = (img: string, path: string) => Number(/Inode: (\d+)/.exec(debugfs(img, [`stat ${path}`]))?.[1]);

for (const [title, opts] of [
  ['4k, 64bit, metadata_csum', ['-b', '4096', '-O', '64bit,metadata_csum']],
  ['1k, 32-bit, no metadata_csum', ['-b', '1024', '-O', '^64bit,^metadata_csum']],
] as [string, string[]][]) {
  describe.skipIf(noTools)(`diffFilesystems on ext4 ${title} against debugfs's trees`, () => {
    const base = tmp.path(`base-${title.replace(/\W+/g, '-')}.img`);
    if (!noTools) mkext4(base, tree, '32M', opts);
    const cases: [string, (img: string) => void][] = [
      [
        'an added file in a deep directory',
        (img) => {
          debugfs(img, [`write ${local}/new.txt /a/b/c/d/e/f/new.txt`], true);
          touch(img, ['/a/b/c/d/e/f']);
        },
      ],
      [
        'a deleted file',
        (img) => {
          debugfs(img, ['rm /a/b/c/d/e/f/deep.txt'], true);
          touch(img, ['/a/b/c/d/e/f']);
        },
      ],
      [
        'a renamed file (delete + add)',
        (img) => {
          debugfs(img, ['ln /big.bin /a/b/moved.bin', 'unlink /big.bin'], true);
          touch(img, ['/', '/a/b']);
        },
      ],
      [
        'a new hard link',
        (img) => {
          debugfs(img, ['ln /hello.txt /many/hello-again', 'set_inode_field /hello.txt links_count 3'], true);
          touch(img, ['/many']);
        },
      ],
      [
        'a truncated file and a file rewritten in place',
        (img) => {
          debugfs(img, ['set_inode_field /big.bin size 5000', 'zap_block -f /sparse.bin -p 0x41 3'], true);
          touch(img, ['/big.bin', '/sparse.bin']);
        },
      ],
      [
        'a new directory tree and a deleted one',
        (img) => {
          debugfs(
            img,
            ['mkdir /fresh', 'mkdir /fresh/inner', `write ${local}/new.txt /fresh/inner/n.txt`, 'rm /gone/sub/x', 'rmdir /gone/sub', 'rmdir /gone'],
            true,
          );
          touch(img, ['/', '/fresh', '/fresh/inner']);
        },
      ],
      [
        'a directory replaced by a file',
        (img) => {
          debugfs(img, ['rm /swap/inside', 'rmdir /swap', `write ${local}/other.txt /swap`], true);
          touch(img, ['/']);
        },
      ],
      [
        'an entry added to a directory whose times stayed (found by the block owner search)',
        (img) => {
          debugfs(img, [`write ${local}/new.txt /a/b/untimed.txt`], true);
        },
      ],
    ];
    for (const [what, edit] of cases) {
      it(`lists ${what} as docker diff would`, () => {
        const { before, after } = scenario(base, what.replace(/\W+/g, '-'), edit);
        const want = expected(before, after);
        expect(want.length).toBeGreaterThan(0);
        expect(ours(before, after).lines.join('\n')).toBe(want.join('\n'));
      });
    }

    it('lists a file rewritten in place with its times kept as changed, found by the owner of its changed block (docker diff, comparing stat alone, would not)', () => {
      const { before, after } = scenario(base, 'untimed-data', (img) => {
        debugfs(img, ['zap_block -f /sparse.bin -p 0x42 0'], true);
      });
      expect(expected(before, after)).toEqual([]);
      expect(ours(before, after).lines).toEqual(['C /sparse.bin']);
    });

    it('gives the inode and sizes of each change as debugfs stat does', () => {
      const { before, after } = scenario(base, 'sizes', (img) => {
        debugfs(img, ['set_inode_field /big.bin size 5000'], true);
        touch(img, ['/big.bin']);
      });
      const c = ours(before, after).changes.find((x) => x.path === '/big.bin');
      expect(c).toEqual({ kind: 'changed', path: '/big.bin', inode: ino(after, '/big.bin'), sizeBefore: 300000, sizeAfter: 5000 });
    });
  });
}
