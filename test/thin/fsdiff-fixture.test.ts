/**
 * The kernel-made filesystem fixture (fixtures/fsdiff.*: ext4 on thin 1
 * with snapshot 2, XFS on thin 3 with snapshot 4, made by
 * `npm run make-fixtures -- fsdiff`) held to the real systems: each device
 * read through its mappings has the md5 the kernel read from /dev/mapper,
 * and the changes recorded from the mounted filesystems name the inodes and
 * sizes that e2fsprogs' debugfs and xfsprogs' xfs_db find in the devices'
 * bytes. What a file-level diff is tested against must be this truth, so
 * the truth is checked here by tools other than dmthin.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileSource } from '../../src/io/byte-source.js';
import { must } from '../../src/errors.js';
import { Metadata } from '../../src/thin/metadata.js';
import { ThinDeviceSource } from '../../src/thin/device-source.js';
import { projectRoot, runTool, scratch, skipReason, xzDecompress } from '../support/env.js';

interface Change {
  kind: 'added' | 'changed' | 'deleted';
  path: string;
  inode: number;
  size_before: number | null;
  size_after: number | null;
}
interface Entry {
  path: string;
  type: string;
  inode: number;
  size: number;
}
interface Truth {
  filesystem: string;
  origin: number;
  snapshot: number;
  docker_diff: string[];
  changes: Change[];
  before: Entry[];
  after: Entry[];
}

const fixtures = join(projectRoot, 'fixtures');
const tmp = scratch();
afterAll(() => tmp.cleanup());
const expected: Record<'ext4' | 'xfs', Truth> = JSON.parse(readFileSync(join(fixtures, 'fsdiff.expected.json'), 'utf8'));

/** device id -> what the kernel reported: size, mapped bytes, md5. */
function kernelDevices(): Map<number, { size: number; mapped: number; md5: string }> {
  const out = new Map<number, { size: number; mapped: number; md5: string }>();
  for (const line of readFileSync(join(fixtures, 'fsdiff.facts'), 'utf8').split('\n')) {
    const m = /^thin (\d+) (\d+) bytes, (\d+) sectors mapped, md5 ([0-9a-f]{32})$/.exec(line);
    if (m) out.set(Number(m[1]), { size: Number(m[2]), mapped: Number(m[3]) * 512, md5: m[4] });
  }
  return out;
}

/** Every device read whole through ThinDeviceSource into an image file: id -> [image path, md5]. */
function exportDevices(): Map<number, { image: string; md5: string; dataBytesRead: number }> {
  const meta = tmp.path('fsdiff.meta');
  const dataFile = tmp.path('fsdiff.data');
  xzDecompress(join(fixtures, 'fsdiff.meta.xz'), meta);
  xzDecompress(join(fixtures, 'fsdiff.data.xz'), dataFile);
  const md = Metadata.open(meta);
  const data = new FileSource(dataFile);
  const out = new Map<number, { image: string; md5: string; dataBytesRead: number }>();
  try {
    const bs = md.dataBlockBytes();
    for (const [id, k] of kernelDevices()) {
      const d = must(
        md.devices().find((x) => x.devId === id),
        `thin ${id} in the fixture's metadata`,
      );
      const src = new ThinDeviceSource(`thin ${id}`, md.reader, must(d.mappingRoot, 'its mapping root'), data, bs, k.size);
      const image = tmp.path(`thin-${id}.img`);
      const fd = openSync(image, 'w');
      const hash = createHash('md5');
      const buf = new Uint8Array(1 << 20);
      try {
        for (let at = 0; at < k.size; at += buf.length) {
          const part = buf.subarray(0, Math.min(buf.length, k.size - at));
          src.readAt(part, at);
          hash.update(part);
          // Zeros stay holes: the images are 768 MiB of mostly unwritten space.
          if (part.some((b) => b !== 0)) writeSync(fd, part, 0, part.length, at);
        }
        ftruncateSync(fd, k.size);
      } finally {
        closeSync(fd);
      }
      out.set(id, { image, md5: hash.digest('hex'), dataBytesRead: src.dataBytesRead });
    }
  } finally {
    data.close();
    md.close();
  }
  return out;
}

const devices = kernelDevices();
const images = exportDevices();

/** What e2fsprogs says of PATH in an ext4 image: inode and size, or undefined when absent. */
function debugfsStat(image: string, path: string): { inode: number; size: number } | undefined {
  const r = runTool('debugfs', ['-R', `stat "${path}"`, image]);
  const ino = /Inode: (\d+)/.exec(r.stdout);
  const size = /\bSize: (\d+)/.exec(r.stdout);
  if (!ino || !size) {
    expect(`${r.stdout}${r.stderr}`, `debugfs stat ${path}`).toMatch(/File not found/);
    return undefined;
  }
  return { inode: Number(ino[1]), size: Number(size[1]) };
}

/** What xfsprogs says of PATH in an XFS image: inode and size, or undefined when absent. */
function xfsDbStat(image: string, path: string): { inode: number; size: number } | undefined {
  const r = runTool('xfs_db', ['-r', '-c', `path ${path}`, '-c', 'inode', '-c', 'print core.size', image]);
  const ino = /current inode number is (\d+)/.exec(r.stdout);
  const size = /core\.size = (\d+)/.exec(r.stdout);
  if (!ino || !size) {
    expect(`${r.stdout}${r.stderr}`, `xfs_db path ${path}`).toMatch(/not found|No such file/i);
    return undefined;
  }
  return { inode: Number(ino[1]), size: Number(size[1]) };
}

describe('the kernel-made fsdiff fixture', () => {
  it('holds four thin devices, each read through its mappings exactly as the kernel read it (md5, and the bytes it has mapped)', () => {
    expect([...devices.keys()].sort()).toEqual([1, 2, 3, 4]);
    for (const [id, k] of devices) {
      const got = must(images.get(id), `thin ${id}`);
      expect(got.md5, `thin ${id}`).toBe(k.md5);
      expect(got.dataBytesRead, `thin ${id}: bytes read from mapped blocks`).toBe(k.mapped);
    }
  });

  it('lists, for each filesystem, every kind of change the scenario made (the list docker diff would print)', () => {
    for (const fs of ['ext4', 'xfs'] as const) {
      const t = expected[fs];
      expect(t.filesystem).toBe(fs);
      const lines = new Set(t.docker_diff);
      for (const l of [
        'A /etc/app/new.conf',
        'C /etc/app/conf.txt',
        'C /etc/app/keys/authorized_keys',
        'C /home/user/log.txt',
        'D /home/user/doomed.txt',
        'D /home/user/doomdir',
        'A /home/user/notes-renamed.txt',
        'D /home/user/notes.txt',
        'A /home/user/orig-link.bin',
        'C /home/user/big.bin',
        'C /data/sparse.img',
        'C /data/current',
        'A /opt/newpkg/bin/tool',
        'C /var/lib/deep/a/b/c/d/e/f/g',
        'A /var/lib/deep/a/b/c/d/e/f/g/new-deep.txt',
        'D /var/lib/deep/a/b/c/d/e/f/leaf.txt',
        'C /srv/olddir',
      ])
        expect(lines.has(l), `${fs}: ${l}`).toBe(true);
      // What Docker's walk leaves out: the deleted directory's contents, the old
      // directory's under the file that replaced it, and the hard link's first name.
      expect(lines.has('D /home/user/doomdir/y.txt')).toBe(false);
      expect(lines.has('D /srv/olddir/j.txt')).toBe(false);
      expect(lines.has('C /data/orig.bin')).toBe(false);
      const byPath = new Map(t.changes.map((c) => [c.path, c]));
      expect(byPath.get('/home/user/big.bin')?.size_before).toBe(200000);
      expect(byPath.get('/home/user/big.bin')?.size_after).toBe(10000);
      expect(t.before.find((e) => e.path === '/srv/olddir')?.type).toBe('dir');
      expect(t.after.find((e) => e.path === '/srv/olddir')?.type).toBe('file');
    }
  });

  const noDebugfs = skipReason(
    runTool('debugfs', ['-V']).code === 0,
    'debugfs (e2fsprogs) not installed: the ext4 side of the fsdiff fixture is not held to it',
  );
  it.skipIf(noDebugfs)('agrees with debugfs on every recorded ext4 change: the inode and size before (snapshot 2) and after (thin 1)', () => {
    const t = expected.ext4;
    const before = must(images.get(t.snapshot), 'snapshot').image;
    const after = must(images.get(t.origin), 'origin').image;
    expect(t.changes.length).toBeGreaterThan(20);
    for (const c of t.changes) {
      const b = debugfsStat(before, c.path);
      const a = debugfsStat(after, c.path);
      expect(b?.size ?? null, `${c.path} before`).toBe(c.size_before);
      expect(a?.size ?? null, `${c.path} after`).toBe(c.size_after);
      expect((c.kind === 'deleted' ? b : a)?.inode, `${c.path} inode`).toBe(c.inode);
    }
  });

  const noXfsDb = skipReason(runTool('xfs_db', ['-V']).code === 0, 'xfs_db (xfsprogs) not installed: the XFS side of the fsdiff fixture is not held to it');
  it.skipIf(noXfsDb)('agrees with xfs_db on every recorded XFS change: the inode and size before (snapshot 4) and after (thin 3)', () => {
    const t = expected.xfs;
    const before = must(images.get(t.snapshot), 'snapshot').image;
    const after = must(images.get(t.origin), 'origin').image;
    expect(t.changes.length).toBeGreaterThan(20);
    for (const c of t.changes) {
      const b = xfsDbStat(before, c.path);
      const a = xfsDbStat(after, c.path);
      expect(b?.size ?? null, `${c.path} before`).toBe(c.size_before);
      expect(a?.size ?? null, `${c.path} after`).toBe(c.size_after);
      expect((c.kind === 'deleted' ? b : a)?.inode, `${c.path} inode`).toBe(c.inode);
    }
  });
});
