/**
 * sendThinLive, the live send as a library call, without device-mapper: a
 * stand-in dmsetup (first on PATH) answers for one pool whose table names
 * the snapshots fixture's metadata (made by the kernel while a metadata
 * snapshot was held, at block 218) and a sparse data file, and keeps a log
 * of what it was told. The real kernel path is test/kernel (backup.mjs,
 * lvm-tools.mjs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendThinLive } from '../../src/driver/send-thin.js';
import { dmthin } from '../support/cli.js';
import { type FakeDmsetup, installFakeDmsetup } from '../support/fake-dmsetup.js';
import { emptyFile, projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
let dm: FakeDmsetup | undefined;
afterAll(() => {
  dm?.uninstall();
  tmp.cleanup();
});

const HELD_ROOT = 218;

describe('sendThinLive: the live send as a library call', () => {
  beforeAll(() => {
    xzDecompress(join(projectRoot, 'fixtures', 'snapshots.meta.xz'), tmp.path('pool.meta'));
    emptyFile(tmp.path('pool.data'), 4194304 * 512);
    dm = installFakeDmsetup(tmp.dir, {
      table: `0 4194304 thin-pool ${tmp.path('pool.meta')} ${tmp.path('pool.data')} 1024 0 0`,
      status: '0 4194304 thin-pool 9 449/4096 1032/16384 HELD rw no_discard_passdown queue_if_no_space - 1024',
      heldRoot: HELD_ROOT,
    });
  });

  it('writes what an offline send of the held snapshot writes, and releases the snapshot it reserved', async () => {
    const live = tmp.path('live.stream');
    const code = await sendThinLive('fakepool', 1, { output: live });
    expect(code).toBe(0);
    const offline = tmp.path('offline.stream');
    const r = dmthin(
      'send',
      '--metadata',
      tmp.path('pool.meta'),
      '--metadata-snap-at',
      String(HELD_ROOT),
      '--data',
      tmp.path('pool.data'),
      '--dev-id',
      '1',
      '-o',
      offline,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(live).equals(readFileSync(offline))).toBe(true);
    const log = readFileSync(tmp.path('dm.log'), 'utf8');
    expect(log).toMatch(/message fakepool 0 reserve_metadata_snap\n(.*\n)*message fakepool 0 release_metadata_snap\n/);
    expect(existsSync(tmp.path('held'))).toBe(false);
  });

  it('releases the snapshot when the child fails, and reports its exit status', async () => {
    writeFileSync(tmp.path('dm.log'), '');
    // Thin 99 is not in the pool: the child says so and exits 1.
    const out = tmp.path('none.stream');
    expect(await sendThinLive('fakepool', 99, { output: out, size: 8 << 20 })).toBe(1);
    expect(readFileSync(tmp.path('dm.log'), 'utf8')).toMatch(/release_metadata_snap/);
    expect(existsSync(tmp.path('held'))).toBe(false);
    expect(existsSync(out)).toBe(false);
  });
});
