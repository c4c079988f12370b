/**
 * Filesystem images for the fs tests, made with e2fsprogs without mounting:
 * mkfs.ext4 -d populates from a directory, debugfs -w edits. debugfs does
 * not touch a directory's times when it links or unlinks a name, as the
 * kernel does; `touchDir` sets them the way a mounted filesystem would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ByteSource } from '../../src/io/byte-source.js';

export const mke2fs = ['/usr/sbin/mke2fs', '/sbin/mke2fs'].find(existsSync);
export const debugfsBin = ['/usr/sbin/debugfs', '/sbin/debugfs'].find(existsSync);

export function mkext4(path: string, dir: string | undefined, size: string, opts: string[] = []): void {
  execFileSync(must(mke2fs), ['-q', '-F', ...(opts.includes('-t') ? [] : ['-t', 'ext4']), ...opts, ...(dir ? ['-d', dir] : []), path, size], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** Runs debugfs requests (one per line) on `img`; -w when `write`. Returns stdout. */
export function debugfs(img: string, requests: string[], write = false): string {
  const r = spawnSync(must(debugfsBin), [...(write ? ['-w'] : []), '-f', '-', img], {
    input: `${requests.join('\n')}\n`,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`debugfs failed: ${r.stderr}`);
  // With -f, debugfs echoes each request as "debugfs: REQUEST": leave those out.
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('debugfs: '))
    .join('\n');
}

let clock = 0x70000000;
/** Sets the mtime and ctime of each path to a new second, as the kernel does for a directory whose entries changed. */
export function touch(img: string, paths: string[]): void {
  clock += 1;
  debugfs(
    img,
    paths.flatMap((p) => [`set_inode_field ${p} mtime ${clock}`, `set_inode_field ${p} ctime ${clock}`]),
    true,
  );
}

/** The byte ranges where two files differ, at `grain` bytes (a thin pool's block); read a chunk at a time, images may be 10 GiB. */
export function differingRanges(a: string, b: string, grain = 4096): { offset: number; length: number }[] {
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  const n = Math.max(fstatSync(fa).size, fstatSync(fb).size);
  const chunk = grain * Math.max(1, Math.floor((4 << 20) / grain));
  const x = Buffer.alloc(chunk);
  const y = Buffer.alloc(chunk);
  const out: { offset: number; length: number }[] = [];
  try {
    for (let base = 0; base < n; base += chunk) {
      x.fill(0);
      y.fill(0);
      readSync(fa, x, 0, chunk, base);
      readSync(fb, y, 0, chunk, base);
      if (x.equals(y)) continue;
      for (let off = 0; off < chunk && base + off < n; off += grain) {
        const end = Math.min(off + grain, n - base);
        if (Buffer.compare(x.subarray(off, end), y.subarray(off, end)) !== 0) {
          const last = out[out.length - 1];
          if (last && last.offset + last.length === base + off) last.length += end - off;
          else out.push({ offset: base + off, length: end - off });
        }
      }
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
  return out;
}

/** An in-memory ByteSource over a buffer (for damaged copies). */
export class MemSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  readAt(dst: Uint8Array, position: number): void {
    dst.fill(0);
    if (position < this.size) dst.set(this.bytes.subarray(position, Math.min(this.size, position + dst.length)));
  }
  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    this.readAt(dst, position);
  }
  close(): void {}
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('e2fsprogs missing');
  return v;
}

interface Entry {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
}

/** debugfs's view of a whole tree: ls -p of every directory, stat of every inode for its mtime. */
function oracleTree(img: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const dirs = ['/'];
  while (dirs.length > 0) {
    const dir = dirs.shift() as string;
    for (const line of debugfs(img, [`ls -p "${dir}"`]).split('\n')) {
      const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(line.trim());
      if (!m || m[5] === '.' || m[5] === '..') continue;
      const path = dir === '/' ? `/${m[5]}` : `${dir}/${m[5]}`;
      const mode = Number.parseInt(m[2], 8);
      out.set(path, { ino: Number(m[1]), mode, uid: Number(m[3]), gid: Number(m[4]), size: Number(m[6] || 0), mtime: '' });
      if ((mode & 0o170000) === 0o040000) dirs.push(path);
    }
  }
  const inos = [...new Set([...out.values()].map((e) => e.ino))];
  const stats = debugfs(
    img,
    inos.map((i) => `stat <${i}>`),
  ).split(/(?=^Inode: )/m);
  const mtimes = new Map<number, string>();
  for (const s of stats) {
    const ino = /^Inode: (\d+)/.exec(s);
    const mt = /mtime: (0x[0-9a-f:]+)/.exec(s);
    if (ino && mt) mtimes.set(Number(ino[1]), mt[1]);
  }
  for (const e of out.values()) e.mtime = mtimes.get(e.ino) ?? '';
  return out;
}

const isDirMode = (m: number) => (m & 0o170000) === 0o040000;
const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';

/** docker diff's rules applied to debugfs's two trees: the expectation. */
export function dockerDiffOracle(beforeImg: string, afterImg: string): string[] {
  const a = oracleTree(beforeImg);
  const b = oracleTree(afterImg);
  const out = new Map<string, string>();
  for (const [p, e] of b) {
    const o = a.get(p);
    if (!o) out.set(p, 'A');
    else if (o.ino !== e.ino || o.mode !== e.mode || o.uid !== e.uid || o.gid !== e.gid || (!isDirMode(e.mode) && (o.size !== e.size || o.mtime !== e.mtime)))
      out.set(p, 'C');
  }
  // go-archive's ChangesDirs looks into an old directory's children only where the new path is a directory too:
  // a directory replaced by a file is one C, its old entries not listed.
  const dirAfter = (q: string) => q === '/' || isDirMode(b.get(q)?.mode ?? 0);
  for (const p of a.keys()) if (!b.has(p) && dirAfter(parentOf(p))) out.set(p, 'D');
  for (const p of [...out.keys()]) for (let q = parentOf(p); q !== '/'; q = parentOf(q)) if (!out.has(q)) out.set(q, 'C');
  return [...out].map(([p, k]) => `${k} ${p}`).sort();
}
