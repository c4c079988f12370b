/**
 * Docker devicemapper forensics on a tree made on a real kernel the way
 * Docker's driver lays it out (fixtures/docker, test/scripts/make-docker-fixture.mjs):
 * the inventory names every device, role and container and finds what the
 * crash left; the offline export of each device is byte-identical to what the
 * kernel read from it (fixtures/docker/facts.txt).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readOnlyMountOptions } from '../../src/docker/live.js';
import { join } from 'node:path';
import { cliPath, dmthin } from '../support/cli.js';
import { spawnSync } from 'node:child_process';
import { projectRoot, scratch } from '../support/env.js';
import { patchBlock } from '../support/damage.js';
import { unpackDockerTree } from '../support/fixtures.js';

const fixture = join(projectRoot, 'fixtures', 'docker');
const tmp = scratch();
afterAll(() => tmp.cleanup());

/** A fresh copy of the Docker tree with its pool files unpacked. */
const tree = (name: string): string => unpackDockerTree(tmp.path(name));

const facts = readFileSync(join(fixture, 'facts.txt'), 'utf8')
  .trim()
  .split('\n')
  .filter((l) => !l.startsWith('pool '))
  .map((l) => l.split(' '))
  .map(([hash, id, md5]) => ({ hash: hash, id: Number(id), md5: md5 }));
const WEB = '3c'.repeat(32);
const DB = '4d'.repeat(32);
let root = '';
let inv: any;

beforeAll(() => {
  root = tree('docker');
  const r = dmthin('docker', 'ls', root, '--json');
  expect(r.code, r.stderr).toBe(0);
  inv = JSON.parse(r.stdout);
});

describe('dmthin docker ls', () => {
  it('lists every device Docker recorded, with role, container and origin', () => {
    const by = Object.fromEntries(inv.devices.map((d: any) => [d.hash, d]));
    expect(inv.devices.map((d: any) => d.device_id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(by.base).toMatchObject({ device_id: 1, role: 'base', size: 33554432, initialized: true, in_pool: true });
    expect(by['1a'.repeat(32)]).toMatchObject({ role: 'image layer', origin: 'base' });
    expect(by['2b'.repeat(32)]).toMatchObject({ role: 'image layer', origin: '1a'.repeat(32) });
    expect(by[`${WEB}-init`]).toMatchObject({ role: 'container init layer', container: 'web', origin: '2b'.repeat(32) });
    expect(by[WEB]).toMatchObject({ role: 'container layer', container: 'web', origin: `${WEB}-init`, device_id: 5 });
    expect(by[DB]).toMatchObject({ role: 'container layer', container: 'db', device_id: 7 });
    for (const d of inv.devices) {
      expect(d.mapped_bytes).toBeGreaterThan(0);
      expect(d.exclusive_bytes).toBeLessThanOrEqual(d.mapped_bytes);
    }
    // The removed container "old" left nothing behind.
    expect(inv.devices.some((d: any) => d.container === 'old')).toBe(false);
  });

  it('reports the pool and what the crash left: an orphan thin and an open transaction', () => {
    expect(inv.pool).toMatchObject({ transaction_id: 10, data_block_size: 128, next_device_id: 11, metadata_ok: true, base_filesystem: 'ext4' });
    expect(inv.pool.name).toMatch(/^docker-\d+:\d+-\d+-pool$/);
    expect(inv.orphan_thins).toEqual([{ device_id: 10, mapped_bytes: expect.any(Number) }]);
    expect(inv.problems.map((p: any) => [p.kind, p.device_id])).toEqual([
      ['orphan-thin', 10],
      ['open-transaction', 10],
    ]);
    expect(inv.problems[1].detail).toMatch(/transaction 11 was open .*the pool is at 10.*deleting thin 10/);
  });

  it("lists the removed container's devices whose trees survive, and says when their data was discarded", () => {
    // "old" (devices 8 and 9) was removed by deleting its thins and its records: its trees survive.
    expect(inv.removed.map((r: any) => r.device_id)).toEqual([8, 9]);
    for (const r of inv.removed) {
      expect(r).toMatchObject({ hash: null, reallocated: 0, discarded: false });
      expect(r.intact + r.shared + r.reallocated + r.unknown).toBe(r.mapped_blocks);
    }
    expect(dmthin('docker', 'ls', root).stdout).toMatch(/removed devices whose trees survive[^\n]*\n {2}thin 8: \d+ blocks mapped; \d+ intact/);
    // Exported with export --deleted, each is what the kernel read from it before the removal.
    const files = join(root, 'devicemapper', 'devicemapper');
    for (const line of readFileSync(join(fixture, 'removed.txt'), 'utf8').trim().split('\n')) {
      const [id, md5] = line.split(' ');
      const out = tmp.path(`removed-${id}.img`);
      const r = dmthin(
        'export',
        '--metadata',
        join(files, 'metadata'),
        '--data',
        join(files, 'data'),
        '--deleted',
        id,
        '--size',
        '33554432',
        '-o',
        out,
        '--json',
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ withheld_blocks: 0 });
      expect(createHash('md5').update(readFileSync(out)).digest('hex'), `removed thin ${id}`).toBe(md5);
    }
    // Docker discards a device's blocks before deleting it (dm.blkdiscard): then every vouched-for block reads as zeros.
    const wiped = tree('docker-discarded');
    const data = join(wiped, 'devicemapper', 'devicemapper', 'data');
    writeFileSync(data, new Uint8Array(readFileSync(data).length));
    const w = JSON.parse(dmthin('docker', 'ls', wiped, '--json').stdout);
    expect(w.removed.map((r: any) => [r.device_id, r.discarded])).toEqual([
      [8, true],
      [9, true],
    ]);
    expect(dmthin('docker', 'ls', wiped).stdout).toMatch(/thin 8: \d+ blocks mapped; its data was discarded before the delete/);
  });

  it('prints a table a person scans in seconds', () => {
    const r = dmthin('docker', 'ls', root);
    expect(r.stdout).toMatch(/^pool docker-\d+:\d+-\d+-pool: transaction 10, 64KiB blocks, metadata checks clean/);
    expect(r.stdout).toMatch(/\n\s*5\s+3c3c3c3c3c3c\s+container layer\s+web\s+32MiB/);
    expect(r.stdout).toMatch(/\n10\s+\(none\)\s+ORPHAN/);
    expect(r.stdout).toMatch(/2 problems:\n {2}orphan-thin \(thin 10\)/);
  });

  it('finds records without thins, uncommitted records and unreadable files', () => {
    const t = tree('broken-records');
    const meta = join(t, 'devicemapper', 'metadata');
    writeFileSync(join(meta, 'feedface'), '{"device_id":42,"size":33554432,"transaction_id":3,"initialized":true,"deleted":false}');
    writeFileSync(join(meta, 'late'), '{"device_id":43,"size":33554432,"transaction_id":99,"initialized":false,"deleted":false}');
    writeFileSync(join(meta, 'garbled'), '{"device_id":');
    const r = JSON.parse(dmthin('docker', 'ls', t, '--json').stdout);
    const kinds = r.problems.map((p: any) => `${p.kind}:${p.device_id ?? p.hash ?? ''}`);
    expect(kinds).toEqual(expect.arrayContaining(['missing-thin:42', 'missing-thin:43', 'uncommitted-device:43', 'unreadable-file:']));
  });

  it('reports damaged thin metadata instead of crashing, exit 1', () => {
    const t = tree('damaged');
    patchBlock(join(t, 'devicemapper', 'devicemapper', 'metadata'), 0, (b) => (b[100] ^= 0xff));
    const r = dmthin('docker', 'ls', t, '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.problems[0]).toMatchObject({ kind: 'damaged-metadata' });
    expect(j.problems[0].detail).toMatch(/bad superblock checksum.*\[block 0\]/);
    expect(j.devices).toHaveLength(7); // Docker's records are still listed
  });

  it('takes the pool files from elsewhere (direct-lvm: --metadata, --data)', () => {
    const t = tree('direct-lvm');
    const files = join(t, 'devicemapper', 'devicemapper');
    const elsewhere = tmp.path('lvm');
    mkdirSync(elsewhere, { recursive: true });
    renameSync(join(files, 'metadata'), join(elsewhere, 'tmeta'));
    renameSync(join(files, 'data'), join(elsewhere, 'tdata'));
    expect(dmthin('docker', 'ls', t).code).toBe(1); // the default files are gone
    const r = JSON.parse(dmthin('docker', 'ls', t, '--json', '--metadata', join(elsewhere, 'tmeta'), '--data', join(elsewhere, 'tdata')).stdout);
    expect(r.pool.metadata_file).toBe(join(elsewhere, 'tmeta'));
    expect(r.devices.map((d: any) => [d.device_id, d.mapped_bytes])).toEqual(inv.devices.map((d: any) => [d.device_id, d.mapped_bytes]));
    const out = tmp.path('lvm-web.img');
    expect(dmthin('docker', 'export', t, 'web', '--metadata', join(elsewhere, 'tmeta'), '--data', join(elsewhere, 'tdata'), '-o', out).code).toBe(0);
    expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(facts.find((f) => f.hash === WEB)?.md5);
  });

  it('mounts snapshots read-only without replaying journals: ext4 noload, xfs norecovery,nouuid', () => {
    expect(readOnlyMountOptions('ext4')).toBe('ro,noload');
    expect(readOnlyMountOptions('ext3')).toBe('ro,noload');
    expect(readOnlyMountOptions('xfs')).toBe('ro,norecovery,nouuid');
    expect(readOnlyMountOptions('btrfs')).toBe('ro');
  });

  it('explains a root that is not a Docker devicemapper tree', () => {
    const r = dmthin('docker', 'ls', tmp.path('nothing-here'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is .* a Docker root that used the devicemapper driver\?/);
  });
});

describe('dmthin docker export', () => {
  it('exports every recorded device byte-identical to what the kernel read from it', () => {
    expect(facts).toHaveLength(7);
    for (const f of facts) {
      const out = tmp.path(`export-${f.id}.img`);
      const r = dmthin('docker', 'export', root, f.hash, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      const buf = readFileSync(out);
      expect(buf.length).toBe(33554432);
      expect(createHash('md5').update(buf).digest('hex'), f.hash).toBe(f.md5);
      rmSync(out);
    }
  });

  it('takes a container name, "base" or a unique hash prefix (PREFIX-init for an init layer), and refuses what is unknown', () => {
    const md5 = (what: string): string => {
      const out = tmp.path('pick.img');
      expect(dmthin('docker', 'export', root, what, '-o', out).code).toBe(0);
      return createHash('md5').update(readFileSync(out)).digest('hex');
    };
    expect(md5('web')).toBe(facts.find((f) => f.hash === WEB)?.md5);
    expect(md5('/db')).toBe(facts.find((f) => f.hash === DB)?.md5);
    expect(md5('base')).toBe(facts.find((f) => f.hash === 'base')?.md5);
    expect(md5('1a1a1a')).toBe(facts.find((f) => f.hash.startsWith('1a1a'))?.md5);
    // As docker ls shows them: a prefix names the layer, PREFIX-init its init layer.
    expect(md5('3c3c')).toBe(facts.find((f) => f.hash === WEB)?.md5);
    expect(md5('3c3c-init')).toBe(facts.find((f) => f.hash === `${WEB}-init`)?.md5);
    expect(dmthin('docker', 'export', root, 'nosuch', '-o', tmp.path('x')).stderr).toMatch(/no Docker device, container name or hash 'nosuch'/);
  });
});

describe('dmthin docker send', () => {
  it("a container's init layer whole, then what the container wrote since, received equal the kernel's bytes of each", () => {
    const md5 = (p: string): string => createHash('md5').update(readFileSync(p)).digest('hex');
    const init = tmp.path('init.stream');
    const r1 = dmthin('docker', 'send', root, `${WEB}-init`, '-o', init, '--json');
    expect(r1.code, r1.stderr).toBe(0);
    const target = tmp.path('web-backup.img');
    expect(dmthin('receive', '-i', init, '-o', target).code).toBe(0);
    expect(md5(target)).toBe(facts.find((f) => f.hash === `${WEB}-init`)?.md5);
    const inc = tmp.path('web.stream');
    const r2 = dmthin('docker', 'send', root, 'web', '--base', `${WEB}-init`, '-o', inc, '--json');
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ hash: WEB, base_hash: `${WEB}-init`, device_id: 5, base_device_id: 4 });
    expect(readFileSync(inc).length).toBeLessThan(readFileSync(init).length);
    expect(dmthin('receive', '-i', inc, '-o', target).code).toBe(0);
    expect(md5(target)).toBe(facts.find((f) => f.hash === WEB)?.md5);
    // To standard output, the report goes to stderr: the stream stays whole.
    const piped = spawnSync(process.execPath, [cliPath, 'docker', 'send', root, 'web', '--base', `${WEB}-init`, '-o', '-', '--json'], { maxBuffer: 1 << 28 });
    expect(piped.status).toBe(0);
    expect(Buffer.compare(piped.stdout, readFileSync(inc))).toBe(0);
    expect(JSON.parse(piped.stderr.toString())).toMatchObject({ hash: WEB });
  });
});
