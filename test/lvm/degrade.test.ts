/**
 * Nothing degrades silently under LVM (issue 23, item 7): a pool whose
 * metadata LV holds a destroyed mapping leaf (thin LV vm-100-disk-0's, the
 * root of its tree) is a problem in `lvm ls` with exit 1, the LV marked;
 * the read verbs fail in one line naming `dmthin lvm doctor IMAGES
 * VG/POOL` with nothing on stdout, and `lvm export` writes the lost bytes
 * as zeros, lists them and exits 1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SUPERBLOCK_MAGIC } from '../../src/format/superblock.js';
import { Metadata } from '../../src/thin/metadata.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { readIndex } from '../../src/pdata/space-map/reader.js';
import { copyFileSync } from 'node:fs';
import { must } from '../../src/errors.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const healthy = tmp.path('healthy.pv');
const image = tmp.path('damaged.pv');
const META_BYTES = 4 << 20;
let leafBlock = -1;
let bitmapBlock = -1;
let metaAt = 0;

/** Byte offset of the pool's metadata LV in the image: where its superblock (magic, blocknr 0) lies. */
function metadataOffset(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(4096);
    const dv = new DataView(b.buffer);
    for (let at = 0; readSync(fd, b, 0, 4096, at) === 4096; at += 4096) {
      if (dv.getUint32(32, true) === SUPERBLOCK_MAGIC && dv.getBigUint64(4, true) === 0n) return at;
    }
    throw new Error(`no thin superblock in ${path}`);
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-disk.pv.xz'), healthy);
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-disk.pv.xz'), image);
  const at = metadataOffset(image);
  metaAt = at;
  // The metadata LV (linear, one extent run) copied out, to find vm-100-disk-0's (device 1) mapping leaf.
  const copy = tmp.path('tmeta');
  const buf = Buffer.alloc(META_BYTES);
  const fd = openSync(image, 'r+');
  try {
    readSync(fd, buf, 0, META_BYTES, at);
    writeFileSync(copy, buf);
    const md = Metadata.open(copy);
    try {
      leafBlock = must(md.devices().find((d) => d.devId === 1)?.mappingRoot, 'device 1');
      const index = readIndex(md.reader, 'data', md.superblock.dataSpaceMapRoot, new BTreeTraversal(md.reader));
      bitmapBlock = must(index.entries[0], 'data bitmap 0').blocknr;
    } finally {
      md.close();
    }
    const leaf = buf.subarray(leafBlock * 4096, (leafBlock + 1) * 4096);
    leaf[200] ^= 0xff;
    writeSync(fd, leaf, 0, 4096, at + leafBlock * 4096);
  } finally {
    closeSync(fd);
  }
});

const doctor = () => `dmthin lvm doctor ${image} pve/data`;

function expectRefusal(r: { code: number; stdout: string; stderr: string }): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^dmthin: block ${leafBlock}: .*checksum.*; pool pve/data's metadata is damaged: run `));
  expect(lines[0]).toContain(doctor());
}

describe('an LVM thin pool with a destroyed mapping leaf', () => {
  it('lvm ls reports it as damaged_pool_metadata naming the block and lvm doctor, marks the LV, and exits 1', () => {
    expect(dmthin('lvm', 'ls', healthy).code).toBe(0);
    const r = dmthin('lvm', 'ls', '--json', image);
    expect(r.code, r.stderr).toBe(1);
    const inv = JSON.parse(r.stdout) as {
      problems: Array<{ kind: string; lv?: string; detail: string }>;
      vgs: Array<{ lvs: Array<{ name: string; problem?: string }> }>;
    };
    const p = must(
      inv.problems.find((x) => x.kind === 'damaged_pool_metadata'),
      'the damage problem',
    );
    expect(p.lv).toBe('data');
    expect(p.detail).toContain(`block ${leafBlock} (thin device 1 mappings`);
    expect(p.detail).toMatch(/checksum/);
    expect(p.detail).toContain(doctor());
    const lvs = inv.vgs[0].lvs;
    expect(lvs.find((l) => l.name === 'vm-100-disk-0')?.problem).toBe('damaged_pool_metadata');
    expect(lvs.find((l) => l.name === 'vm-101-disk-0')?.problem).toBeUndefined();
    const text = dmthin('lvm', 'ls', image);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('damaged_pool_metadata pve/data:');
  });

  it('lvm dump, delta, rmap and send fail in one line naming lvm doctor, with nothing on stdout', () => {
    expectRefusal(dmthin('lvm', 'dump', image, 'pve/data'));
    expectRefusal(dmthin('lvm', 'delta', image, 'pve/data', '--snap1', '1', '--snap2', '2'));
    expectRefusal(dmthin('lvm', 'rmap', image, 'pve/data', '--region', '0..640'));
    expectRefusal(dmthin('lvm', 'send', image, 'pve/vm-100-disk-0', '-o', '-'));
    const stream = tmp.path('s.stream');
    expectRefusal(dmthin('lvm', 'send', image, 'pve/vm-100-disk-0', '-o', stream));
    expect(existsSync(stream)).toBe(false);
    const html = tmp.path('r.html');
    expectRefusal(dmthin('lvm', 'report', image, 'pve/data', '-o', html));
    expect(existsSync(html)).toBe(false);
  });

  it('lvm ls VG/POOL lists the devices, names the damage on stderr and exits 1', () => {
    const r = dmthin('lvm', 'ls', image, 'pve/data');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DEV');
    expect(r.stderr).toContain(doctor());
  });

  it('lvm export writes the lost LV as zeros, lists the range, exits 1; the other LV is whole', () => {
    const out = tmp.path('vm100.img');
    const r = dmthin('lvm', 'export', image, 'pve/vm-100-disk-0', '-o', out, '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { size: number; lost: Array<{ from: number; to: number }>; damage: { doctor: string } };
    // The leaf was the tree's root: every byte of the LV is lost.
    expect(j.lost).toEqual([{ from: 0, to: 24 << 20 }]);
    expect(j.damage.doctor).toBe(doctor());
    expect(readFileSync(out).equals(Buffer.alloc(24 << 20))).toBe(true);
    const t = dmthin('lvm', 'export', image, 'pve/vm-100-disk-0', '-o', tmp.path('vm100b.img'));
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(`LOST ${24 << 20} bytes of pve/vm-100-disk-0 in 1 range, written as zeros: bytes 0..${(24 << 20) - 1}`);
    // Nothing of it was read: never a negative count.
    expect(t.stdout).toMatch(/^exported pve\/vm-100-disk-0 \(thin\): 25165824 bytes, 0 read, /);
    const a = tmp.path('vm101-good.img');
    const b = tmp.path('vm101.img');
    expect(dmthin('lvm', 'export', healthy, 'pve/vm-101-disk-0', '-o', a).code).toBe(0);
    expect(dmthin('lvm', 'export', image, 'pve/vm-101-disk-0', '-o', b).code).toBe(0);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });

  it('repair and lvm doctor keep the other LV whole: one device’s destroyed root does not make the top level unusable', () => {
    // Truth: the healthy image's own mappings of vm-101-disk-0 (device 2).
    const want = dmthin('lvm', 'dump', healthy, 'pve/data', '--dev-id', '2');
    expect(want.code, want.stderr).toBe(0);
    const out = tmp.path('repaired.meta');
    writeFileSync(out, Buffer.alloc(META_BYTES));
    const r = dmthin('lvm', 'repair', image, 'pve/data', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/not a usable top-level tree/);
    const got = dmthin('dump', out, '--dev-id', '2');
    const body = (x: string): string => x.replace(/<superblock[^>]*>/, '');
    expect(body(got.stdout)).toBe(body(want.stdout));
    const j = JSON.parse(dmthin('lvm', 'doctor', image, 'pve/data', '--json').stdout) as { devices: Array<{ name: string; lost: unknown[] }> };
    expect(j.devices.find((d) => d.name === 'pve/vm-101-disk-0')?.lost).toEqual([]);
    expect(j.devices.find((d) => d.name === 'pve/vm-100-disk-0')?.lost.length).toBeGreaterThan(0);
  });
});

describe('an LVM thin pool with a destroyed space-map bitmap', () => {
  it('lvm ls reports damaged_pool_metadata naming the bitmap, marks no thin LV, and exits 1', () => {
    const img = tmp.path('bitmap.pv');
    copyFileSync(healthy, img);
    const fd = openSync(img, 'r+');
    try {
      const b = Buffer.alloc(4096);
      readSync(fd, b, 0, 4096, metaAt + bitmapBlock * 4096);
      b[500] ^= 0xff;
      writeSync(fd, b, 0, 4096, metaAt + bitmapBlock * 4096);
    } finally {
      closeSync(fd);
    }
    const r = dmthin('lvm', 'ls', '--json', img);
    expect(r.code, r.stderr).toBe(1);
    const inv = JSON.parse(r.stdout) as { problems: Array<{ kind: string; detail: string }>; vgs: Array<{ lvs: Array<{ type: string; problem?: string }> }> };
    const p = must(
      inv.problems.find((x) => x.kind === 'damaged_pool_metadata'),
      'the damage problem',
    );
    expect(p.detail).toContain(`block ${bitmapBlock} (data space map bitmap 0)`);
    expect(p.detail).toContain(`dmthin lvm doctor ${img} pve/data`);
    // The mappings are whole: the thin LVs can still be read.
    for (const lv of inv.vgs[0].lvs.filter((l) => l.type === 'thin')) expect(lv.problem).toBeUndefined();
  });
});
