/**
 * XFS images for the fs tests, made by xfsprogs without mounting: a tree
 * written as an mkfs.xfs prototype file (mkfs.xfs -p), read back by xfs_db
 * as the oracle.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';

export const mkfsXfs = ['/usr/sbin/mkfs.xfs', '/sbin/mkfs.xfs'].find(existsSync);
export const xfsDb = ['/usr/sbin/xfs_db', '/sbin/xfs_db'].find(existsSync);

/** A tree as an mkfs.xfs prototype file (mkfs.xfs -p): no mount needed. */
export function buildProto(src: string): string {
  const lines = ['/dummy', '0 0', 'd--755 0 0'];
  const file = (name: string, body: string | Buffer) => {
    const p = `${src}/${name.replace(/\//g, '_')}`;
    writeFileSync(p, body);
    return p;
  };
  mkdirSync(src, { recursive: true });
  lines.push(`hello.txt ---644 0 0 ${file('hello', 'hello xfs\n')}`);
  lines.push(`big.bin ---644 0 0 ${file('big', Buffer.from(Array.from({ length: 300_000 }, (_, k) => (k * 7) & 0xff)))}`);
  lines.push(`short-link l--777 0 0 hello.txt`);
  lines.push(`long-link l--777 0 0 ${'y'.repeat(200)}/target`);
  lines.push('medium d--755 0 0');
  for (let k = 0; k < 20; k++) lines.push(`entry-${k} ---644 0 0 ${file(`m${k}`, `${k}\n`)}`);
  lines.push('$');
  lines.push('many d--755 0 0');
  for (let k = 0; k < 400; k++) lines.push(`a-rather-long-file-name-number-${k} ---644 0 0 ${file(`n${k}`, `${k}\n`)}`);
  lines.push('$');
  lines.push('a d--755 0 0', 'b d--755 0 0', 'c d--755 0 0', `deep.txt ---644 0 0 ${file('deep', 'deep\n')}`, '$', '$', '$');
  lines.push('$');
  const proto = `${src}/proto`;
  writeFileSync(proto, `${lines.join('\n')}\n`);
  return proto;
}

/** xfs_db -r with each command, on `img`: its stdout. */
export function xdb(img: string, cmds: string[]): string {
  const r = spawnSync(xfsDb as string, ['-r', ...cmds.flatMap((c) => ['-c', c]), img], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return r.stdout;
}
