/**
 * dmthin pool doctor without device-mapper: a stand-in dmsetup (first on
 * PATH) answers for one pool whose table names the snapshots fixture's
 * metadata (kernel-made, a metadata snapshot held at block 218) and a sparse
 * data file, with the status line each test sets, and logs what it was told.
 * The problems must be what the status line the test wrote says; the pool
 * must be left as it was (no message but the snapshot's reserve and release,
 * the metadata's bytes unchanged).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lvmPoolOf, metadataLowWater } from '../../src/driver/doctor-live.js';
import { dmthin } from '../support/cli.js';
import { type FakeDmsetup, installFakeDmsetup } from '../support/fake-dmsetup.js';
import { must } from '../../src/errors.js';
import { emptyFile, projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
let dm: FakeDmsetup | undefined;
afterAll(() => {
  dm?.uninstall();
  tmp.cleanup();
});

const HELD_ROOT = 218;
/** The fixture's pool: 16384 data blocks of 256 sectors. */
const SECTORS = 4194304;
const BLOCK = 256;

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
let metaHash = '';

/** The status line the stand-in prints: HELD becomes the held root (or -). */
function status(line: string): void {
  must(dm, 'the stand-in dmsetup').setStatus(line);
}

function doctor(name = 'fakepool', ...more: string[]): { code: number; r: any; log: string } {
  const run = dmthin('pool', 'doctor', name, '--json', ...more);
  const log = readFileSync(tmp.path('dm.log'), 'utf8');
  expect(sha(tmp.path('pool.meta'))).toBe(metaHash);
  return { code: run.code, r: run.stdout ? JSON.parse(run.stdout) : { stderr: run.stderr }, log };
}

const codes = (r: { problems: Array<{ code: string; severity: string }> }): string[][] => r.problems.map((p) => [p.code, p.severity]);

beforeAll(() => {
  xzDecompress(join(projectRoot, 'fixtures', 'snapshots.meta.xz'), tmp.path('pool.meta'));
  metaHash = sha(tmp.path('pool.meta'));
  emptyFile(tmp.path('pool.data'), SECTORS * 512);
  dm = installFakeDmsetup(tmp.dir, {
    table: `0 ${SECTORS} thin-pool ${tmp.path('pool.meta')} ${tmp.path('pool.data')} ${BLOCK} 0 0`,
    status: '',
    heldRoot: HELD_ROOT,
  });
});

beforeEach(() => writeFileSync(tmp.path('dm.log'), ''));

describe('pool doctor: the kernel status', () => {
  it('a running pool with room is read through a snapshot it reserves and releases', () => {
    status(`0 ${SECTORS} thin-pool 61 95/512 2524/16384 HELD rw no_discard_passdown queue_if_no_space - 128`);
    const { code, r, log } = doctor();
    expect(code).toBe(0);
    expect(r).toMatchObject({ pool: { kind: 'live', name: 'fakepool', running: 'fakepool' }, healthy: true, problems: [], plan: [] });
    expect(log).toMatch(/message fakepool 0 reserve_metadata_snap\n(.*\n)*message fakepool 0 release_metadata_snap\n/);
    expect(existsSync(tmp.path('held'))).toBe(false);
  });

  it('read-only with needs_check: both named, the metadata read in place (no message at all), the plan takes it offline', () => {
    status(`0 ${SECTORS} thin-pool 61 95/512 2524/16384 - ro no_discard_passdown queue_if_no_space needs_check 128`);
    const { code, r, log } = doctor();
    expect(code).toBe(1);
    expect(codes(r)).toEqual([
      ['needs_check_flag', 'fatal'],
      ['pool_read_only', 'fatal'],
    ]);
    expect(log).not.toMatch(/message/);
    const commands = r.plan.map((s: { command?: string }) => s.command ?? '').join('\n');
    expect(commands).toMatch(/^dmsetup remove fakepool$/m);
    expect(commands).toMatch(new RegExp(`dmthin doctor --metadata ${tmp.path('pool.meta')} --data ${tmp.path('pool.data')} -o KIT`));
  });

  it('a snapshot someone else holds is read through, left held, and said to be possibly older', () => {
    writeFileSync(tmp.path('held'), `${HELD_ROOT}\n`);
    status(`0 ${SECTORS} thin-pool 61 95/512 2524/16384 HELD rw no_discard_passdown queue_if_no_space - 128`);
    const { code, r, log } = doctor();
    expect(code).toBe(0);
    expect(codes(r)).toEqual([['held_metadata_snapshot', 'info']]);
    expect(log).not.toMatch(/message/);
    expect(existsSync(tmp.path('held'))).toBe(true);
    rmSync(tmp.path('held'));
  });

  it('fail mode: pool_failed alone; a status the kernel could not fill (Error) as fail mode; an unreadable one refused in one line', () => {
    for (const word of ['Fail', 'Error']) {
      status(`0 ${SECTORS} thin-pool ${word}`);
      const { code, r, log } = doctor();
      expect(code).toBe(1);
      expect(codes(r)).toEqual([['pool_failed', 'fatal']]);
      expect(log).not.toMatch(/message/);
    }
    status(`0 ${SECTORS} thin-pool 61 95/512 2524/16384 - sideways no_discard_passdown queue_if_no_space - 128`);
    const bad = dmthin('pool', 'doctor', 'fakepool');
    expect([bad.code, bad.stdout]).toEqual([1, '']);
    expect(bad.stderr).toMatch(/^dmthin: pool fakepool: unknown pool mode 'sideways' .*: dmthin cannot read this kernel's status line\n$/);
  });

  it('out of data space: data_space_exhausted, and the reload doubles the length', () => {
    status(`0 ${SECTORS} thin-pool 61 95/512 16384/16384 HELD out_of_data_space no_discard_passdown error_if_no_space - 128`);
    const { code, r } = doctor();
    expect(code).toBe(1);
    expect(codes(r)).toEqual([['data_space_exhausted', 'fatal']]);
    expect(r.problems[0].summary).toMatch(/all 16384 data blocks .*fail at once \(error_if_no_space\)/);
    // 16384 blocks of 256 sectors more.
    const grow = 16384 * BLOCK;
    expect(r.plan[0].command).toBe(
      `dmsetup reload fakepool --table "0 ${SECTORS + grow} thin-pool ${tmp.path('pool.meta')} ${tmp.path('pool.data')} ${BLOCK} 0 0"\ndmsetup resume fakepool`,
    );
  });

  it('metadata full is fatal; below the low-water mark (the status field, or min(1024, blocks / 4) without it) is not', () => {
    status(`0 ${SECTORS} thin-pool 61 512/512 2524/16384 HELD rw no_discard_passdown queue_if_no_space - 128`);
    expect(codes(doctor().r)).toEqual([['metadata_space_exhausted', 'fatal']]);
    status(`0 ${SECTORS} thin-pool 61 400/512 2524/16384 HELD rw no_discard_passdown queue_if_no_space - 128`);
    const near = doctor().r;
    expect(codes(near)).toEqual([['metadata_space_exhausted', 'non_fatal']]);
    expect(near.problems[0].facts).toEqual({ used: 400, total: 512, low_water: 128 });
    // An older kernel prints no low-water mark: 384 used leaves 128 free, not below min(1024, 512 / 4).
    status(`0 ${SECTORS} thin-pool 61 384/512 2524/16384 HELD rw no_discard_passdown queue_if_no_space -`);
    expect(codes(doctor().r)).toEqual([]);
    expect(metadataLowWater(512)).toBe(128);
    expect(metadataLowWater(1 << 20)).toBe(1024);
  });

  it("an LVM pool's plan is lvm2's: lvextend of VG/POOL named from VG-POOL-tpool (hyphens doubled)", () => {
    expect(lvmPoolOf('vg--x-my--pool-tpool')).toBe('vg-x/my-pool');
    expect(lvmPoolOf('fakepool')).toBeUndefined();
    status(`0 ${SECTORS} thin-pool 61 95/512 16384/16384 HELD out_of_data_space no_discard_passdown queue_if_no_space - 128`);
    const { r } = doctor('vg--x-my--pool-tpool');
    expect(r.plan[0].command).toBe(`lvextend -L +${16384 * BLOCK * 512}b vg-x/my-pool`);
  });

  it('-o DIR writes the report and the plan; an existing DIR is refused before the pool is touched', () => {
    status(`0 ${SECTORS} thin-pool 61 95/512 2524/16384 - ro no_discard_passdown queue_if_no_space needs_check 128`);
    const kit = tmp.path('kit');
    const { code, r } = doctor('fakepool', '-o', kit);
    expect(code).toBe(1);
    expect(readdirSync(kit)).toEqual(expect.arrayContaining(['plan.txt', 'report.json']));
    expect(JSON.parse(readFileSync(join(kit, 'report.json'), 'utf8')).problems.map((p: { code: string }) => p.code)).toEqual(
      r.problems.map((p: { code: string }) => p.code),
    );
    writeFileSync(tmp.path('dm.log'), '');
    expect(dmthin('pool', 'doctor', 'fakepool', '-o', kit).code).toBe(2);
    expect(readFileSync(tmp.path('dm.log'), 'utf8')).toBe('');
  });
});
