/**
 * One pool source for every thin verb: each opener (raw files, a pool in
 * LVM images, a Docker root, a live pool through a held metadata snapshot)
 * says what it is and gives the right metadata, data and files; and a verb
 * given the same pool through each spelling answers the same.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDockerPool } from '../../src/docker/pool-source.js';
import { Pool } from '../../src/driver/pool.js';
import { withLivePool } from '../../src/driver/pool-source.js';
import { UsageError } from '../../src/errors.js';
import type { ByteSource } from '../../src/io/byte-source.js';
import { LvSource } from '../../src/lvm/lv-source.js';
import { openPool } from '../../src/lvm/open-pool.js';
import { checkAndFix } from '../../src/thin/check/check-and-fix.js';
import { lsRows } from '../../src/thin/insight/ls.js';
import { Metadata } from '../../src/thin/metadata.js';
import { type PoolSource, filesSource, openMetadata } from '../../src/thin/pool-source.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';
import { unpackKernelFixture, unpackStripedPvs } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** The whole of a ByteSource, as a file: the same metadata a files source then reads. */
function copyOut(s: ByteSource, name: string): string {
  const buf = new Uint8Array(s.size);
  s.readAt(buf, 0);
  const path = tmp.path(name);
  writeFileSync(path, buf);
  return path;
}

/** What ls says of every device, read through a source (closed after). */
function listed(src: PoolSource, options: { metadataSnap?: boolean } = {}): unknown {
  const md = openMetadata(src, options);
  try {
    return lsRows(md, true);
  } finally {
    md.close();
  }
}

describe('raw files', () => {
  it('name the metadata and data the user gave, may be written, and are advised to dmthin repair', () => {
    const s = filesSource('/m.bin', '/d.bin');
    expect(s).toMatchObject({ kind: 'files', name: '/m.bin', metadata: '/m.bin', data: '/d.bin', files: ['/m.bin', '/d.bin'], writable: true });
    expect(s.repairCommand).toBe('dmthin repair -i /m.bin -o NEW');
    expect([s.running, s.dataProblem, s.metadataSnap]).toEqual([undefined, undefined, undefined]);
    expect(filesSource('/m.bin').files).toEqual(['/m.bin']);
  });
});

describe('a pool inside LVM images', () => {
  let pvs: string[] = [];
  beforeAll(() => {
    pvs = unpackStripedPvs(tmp.path);
  });

  it('gives the metadata and data LVs read in place, the images as its files, and is never written', () => {
    const s = openPool(pvs, 'vgst/pool', () => undefined);
    try {
      expect(s).toMatchObject({ kind: 'lvm', name: 'vgst/pool', files: pvs, writable: false, vg: 'vgst', pool: 'pool' });
      expect(s.repairCommand).toBe(`dmthin lvm repair ${pvs.join(' ')} vgst/pool -o NEW`);
      expect(s.metadata).toBeInstanceOf(LvSource);
      expect(s.data).toBeInstanceOf(LvSource);
      expect([s.metadata.lv, s.data?.lv]).toEqual(['pool_tmeta', 'pool_tdata']);
      expect([s.running, s.dataProblem]).toEqual([undefined, undefined]);
      // check refuses to write into the images, whatever is asked.
      expect(() => checkAndFix(s, { autoRepair: true })).toThrow(UsageError);
    } finally {
      s.close();
    }
  });

  it('says the kernel runs it when the probe says so', () => {
    const s = openPool(pvs, 'vgst/pool', () => 'vgst-pool-tpool');
    s.close();
    expect(s.running).toBe('vgst-pool-tpool');
  });

  it('a missing PV leaves the metadata readable and names why the data is not whole', () => {
    // pv1 alone: the metadata LV lies whole on it, the striped data LV on both PVs.
    const s = openPool([pvs[1] ?? ''], 'vgst/pool', () => undefined);
    try {
      expect(s.dataProblem).toMatch(/pool pool's data LV pool_tdata lies on pv0, which none of the images given holds/);
      expect(s.data).toBeUndefined();
      expect(checkAndFix(s, {}).exitCode).toBe(0);
    } finally {
      s.close();
    }
    // The CLI answers from the metadata and says what was not read (exit 1).
    const r = dmthin('lvm', 'ls', pvs[1] ?? '', 'vgst/pool');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/: what is above was read from the pool's metadata only\n$/);
  });

  it('check and ls answer the same through the images as through the metadata LV copied out to a file', () => {
    const s = openPool(pvs, 'vgst/pool', () => undefined);
    const file = copyOut(s.metadata, 'vgst-pool.meta');
    const throughImages = { check: checkAndFix(s, {}).result, ls: listed(s) };
    s.close();
    const f = filesSource(file);
    expect(throughImages).toEqual({ check: checkAndFix(f, {}).result, ls: listed(f) });
    // The CLI's two spellings print the same listing.
    const cli = dmthin('lvm', 'ls', ...pvs, 'vgst/pool', '-f', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS');
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe(dmthin('ls', file, '-f', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS').stdout);
  });
});

describe('a Docker root', () => {
  let root = '';
  beforeAll(() => {
    const fixture = join(projectRoot, 'fixtures', 'docker');
    root = tmp.path('docker');
    cpSync(join(fixture, 'tree'), root, { recursive: true });
    const files = join(root, 'devicemapper', 'devicemapper');
    mkdirSync(files, { recursive: true });
    xzDecompress(join(fixture, 'metadata.xz'), join(files, 'metadata'));
    xzDecompress(join(fixture, 'data.xz'), join(files, 'data'));
  });

  it("gives the files docker ls and export read, with Docker's records, and is never written", () => {
    const s = openDockerPool(root);
    const files = join(root, 'devicemapper', 'devicemapper');
    expect(s).toMatchObject({ kind: 'docker', metadata: join(files, 'metadata'), data: join(files, 'data'), writable: false });
    expect(s.files).toEqual([join(files, 'metadata'), join(files, 'data')]);
    expect(s.name).toBe(s.tree.poolName);
    expect(s.tree.devices.length).toBeGreaterThan(0);
    expect(openDockerPool(root, { metadata: '/m', data: '/d' })).toMatchObject({ metadata: '/m', data: '/d', files: ['/m', '/d'] });
    expect(() => openDockerPool(tmp.path('nothing'))).toThrow(/does not exist/);
  });

  it('check and ls answer the same through the Docker root as through its metadata file', () => {
    const s = openDockerPool(root);
    const f = filesSource(s.metadata, s.data);
    expect({ check: checkAndFix(s, {}).result, ls: listed(s) }).toEqual({ check: checkAndFix(f, {}).result, ls: listed(f) });
  });
});

describe('a live pool through a held metadata snapshot', () => {
  it('reads at the snapshot the kernel holds, and answers as the snapshot read from a file does', async () => {
    // No kernel here: a stand-in pool whose metadata device is the kernel-made fixture that holds a snapshot.
    const meta = unpackKernelFixture(tmp.dir);
    const held = Metadata.open(meta).superblock.heldRoot;
    expect(held).not.toBe(0);
    const events: string[] = [];
    const fake = {
      name: 'pool0',
      dataDevice: '/dev/loop9',
      async withMetadataSnap<T>(fn: (dev: string, root: number) => Promise<T> | T): Promise<T> {
        events.push('reserve');
        try {
          return await fn(meta, held);
        } finally {
          events.push('release');
        }
      },
    };
    const open = vi.spyOn(Pool, 'open').mockResolvedValue(fake as unknown as Pool);
    try {
      const got = await withLivePool('pool0', (s) => {
        events.push('use');
        expect(s).toMatchObject({
          kind: 'live',
          name: 'pool0',
          metadata: meta,
          data: '/dev/loop9',
          running: 'pool0',
          metadataSnap: held,
          files: [meta],
          writable: false,
        });
        expect(() => checkAndFix(s, { clearNeedsCheckFlag: true })).toThrow(UsageError);
        return { check: checkAndFix(s, {}).result, ls: listed(s) };
      });
      const f = filesSource(meta);
      expect(got).toEqual({ check: checkAndFix(f, { metadataSnap: true }).result, ls: listed(f, { metadataSnap: true }) });
      // And not as the live superblock reads it: the snapshot is another view.
      expect(got.ls).not.toEqual(listed(f));
      expect(events).toEqual(['reserve', 'use', 'release']);
      expect(open).toHaveBeenCalledWith('pool0');
      // A failing read still releases the snapshot.
      events.length = 0;
      await expect(withLivePool('pool0', () => Promise.reject(new UsageError('boom')))).rejects.toThrow('boom');
      expect(events).toEqual(['reserve', 'release']);
    } finally {
      open.mockRestore();
    }
  });
});

describe('the metadata read', () => {
  it('openMetadata reads at the source held snapshot unless told another view', () => {
    const meta = unpackKernelFixture(tmp.dir);
    const held = Metadata.open(meta).superblock.heldRoot;
    const live: PoolSource = { ...filesSource(meta), kind: 'live', metadataSnap: held };
    expect(listed(live)).toEqual(listed(filesSource(meta), { metadataSnap: true }));
    expect(readFileSync(meta).length).toBeGreaterThan(0);
  });
});
