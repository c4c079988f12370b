/**
 * A source tree for mkfs.ext4 -d with what the reader must handle: nested
 * directories, a large directory, short and long symlinks, a hard link, a
 * sparse file with many extents, an empty file, a file of many blocks.
 */
import { linkSync, mkdirSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export function makeTree(root: string): void {
  mkdirSync(join(root, 'a/b/c/d/e/f'), { recursive: true });
  writeFileSync(join(root, 'a/b/c/d/e/f/deep.txt'), 'deep\n');
  writeFileSync(join(root, 'hello.txt'), 'hello world\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(
    join(root, 'big.bin'),
    Buffer.alloc(300_000, 7).map((_, k) => k & 0xff),
  );
  mkdirSync(join(root, 'many'));
  for (let k = 0; k < 300; k++) writeFileSync(join(root, 'many', `file-with-a-longish-name-${k}`), `${k}\n`);
  symlinkSync('hello.txt', join(root, 'short-link'));
  symlinkSync(`${'x'.repeat(100)}/target`, join(root, 'long-link'));
  linkSync(join(root, 'hello.txt'), join(root, 'a/hard-link'));
  // Data every 3rd block of 4 KiB, 40 islands: more extents than the inode's four.
  const fd = openSync(join(root, 'sparse.bin'), 'w');
  for (let k = 0; k < 40; k++) writeSync(fd, Buffer.from(`island ${k}`), 0, undefined, k * 3 * 4096);
  ftruncateSync(fd, 130 * 4096);
  closeSync(fd);
}
