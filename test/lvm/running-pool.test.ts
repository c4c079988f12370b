/**
 * The refusals of a pool the kernel runs live in the library: a program that
 * calls exportLv, exportDeletedLv, undeleteLv or sendLv gets them as the CLI
 * does. A running pool cannot be made without device-mapper, so each is
 * given a probe that says "running" for the two-PV fixture made by lvm2
 * (lvm-striped: pool vgst/pool, thin t1 and its snapshot s1, "gone"
 * removed); the real probe reads sysfs (test/unit/pure.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { ArgumentError, UsageError } from '../../src/errors.js';
import { exportLv } from '../../src/lvm/export-lv.js';
import { exportDeletedLv } from '../../src/lvm/export-deleted-lv.js';
import { type PoolIdentity, openPool } from '../../src/lvm/open-pool.js';
import type { RunningProbe } from '../../src/lvm/running.js';
import { planLvSend, sendLv } from '../../src/lvm/send-lv.js';
import { undeleteLv } from '../../src/lvm/undelete-lv.js';
import { receiveIntoThin } from '../../src/driver/receive-thin.js';
import { receive } from '../../src/stream/receive.js';
import { scratch } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** Says vgst/pool runs (as vgst-pool-tpool), and keeps what it was asked. */
function runningVgst(): RunningProbe & { asked: PoolIdentity[] } {
  const asked: PoolIdentity[] = [];
  const probe = (p: PoolIdentity): string | undefined => {
    asked.push(p);
    return p.vg === 'vgst' && p.pool === 'pool' ? 'vgst-pool-tpool' : undefined;
  };
  return Object.assign(probe, { asked });
}
const notRunning: RunningProbe = () => undefined;

/** Runs `fn` with a new empty output file's descriptor; returns the file's path. */
function withFd<T>(name: string, fn: (fd: number) => T): { path: string; result: () => T } {
  const path = tmp.path(name);
  const fd = openSync(path, 'w');
  try {
    const r = fn(fd);
    return { path, result: () => r };
  } finally {
    closeSync(fd);
  }
}

describe('the library refuses what the kernel runs from the images', () => {
  let pvs: string[] = [];
  beforeAll(() => {
    pvs = unpackStripedPvs(tmp.path);
  });

  it('exportLv refuses a thin LV of a running pool, naming the way on through the kernel, and writes nothing', () => {
    const probe = runningVgst();
    const out = tmp.path('t1.img');
    writeFileSync(out, '');
    const fd = openSync(out, 'r+');
    try {
      // Given a path, the library opens the output only after the refusal: nothing made beside it, the file as it was.
      expect(() => exportLv(pvs, 'vgst/t1', out, { running: probe })).toThrow(
        new UsageError(
          `vgst/t1 is a thin LV of vgst/pool, which the kernel runs from these disks (vgst-pool-tpool): its metadata and data change while they are read. ` +
            `Send it through the kernel instead: dmthin lvm send ${pvs.join(' ')} vgst/t1 -o - | dmthin receive -i - -o ${out}`,
        ),
      );
      // Given a descriptor (or -), the advice names IMAGE.
      expect(() => exportLv(pvs, 'vgst/t1', fd, { running: probe })).toThrow(/-o - \| dmthin receive -i - -o IMAGE$/);
    } finally {
      closeSync(fd);
    }
    expect(statSync(out).size).toBe(0);
    expect(readdirSync(tmp.dir).filter((n) => n.includes('dmthin-partial'))).toEqual([]);
    expect(probe.asked[0]).toMatchObject({ vg: 'vgst', pool: 'pool', vgId: expect.stringMatching(/^[\w-]{38}$/) });
  });

  it('exportLv still copies a linear LV of that VG, and a thin LV when the pool does not run', () => {
    const lin = withFd('lin.img', (fd) => exportLv(pvs, 'vgst/lin', fd, { running: runningVgst() }));
    expect(lin.result()).toMatchObject({ kind: 'linear', size: 10485760 });
    const t1 = withFd('t1-offline.img', (fd) => exportLv(pvs, 'vgst/t1', fd, { running: notRunning }));
    expect(t1.result()).toMatchObject({ kind: 'thin', size: 25165824 });
  });

  const recoveryRefusal = new UsageError(
    "the kernel runs vgst/pool from these disks (vgst-pool-tpool): any block it allocates may be one of vgst/gone's, and its metadata changes while it is read. " +
      'Deactivate the pool first (vgchange -an vgst), or work on a copy of the disks (docs/recovery.md)',
  );

  it('exportDeletedLv refuses to recover a removed LV from a running pool, and writes nothing', () => {
    const out = tmp.path('gone.img');
    writeFileSync(out, '');
    const fd = openSync(out, 'r+');
    try {
      expect(() => exportDeletedLv(pvs, 'vgst/gone', fd, { running: runningVgst() })).toThrow(recoveryRefusal);
    } finally {
      closeSync(fd);
    }
    expect(statSync(out).size).toBe(0);
  });

  it('undeleteLv refuses a running pool before writing either output', () => {
    const meta = tmp.path('new.meta');
    const old = new Uint8Array(4 << 20).fill(0xa5);
    writeFileSync(meta, old);
    const text = tmp.path('vgst.txt');
    expect(() => undeleteLv(pvs, 'vgst/gone', meta, text, { running: runningVgst() })).toThrow(recoveryRefusal);
    expect(readFileSync(meta).equals(old)).toBe(true);
    expect(existsSync(text)).toBe(false);
  });

  it("openPool says when the kernel runs the pool, for the readers' warning", () => {
    const live = openPool(pvs, 'vgst/pool', runningVgst());
    const copy = openPool(pvs, 'vgst/pool', notRunning);
    try {
      expect(live.running).toBe('vgst-pool-tpool');
      expect(copy.running).toBeUndefined();
    } finally {
      live.close();
      copy.close();
    }
  });

  it('planLvSend names the running pool to send through; sendLv refuses to read its images', async () => {
    const probe = runningVgst();
    expect(planLvSend(pvs, 'vgst/s1', 'vgst/t1', probe)).toMatchObject({ vg: 'vgst', pool: 'pool', id: 2, baseId: 1, live: 'vgst-pool-tpool' });
    expect(planLvSend(pvs, 'vgst/s1', 'vgst/t1', notRunning).live).toBeUndefined();
    const out = tmp.path('s1.stream');
    writeFileSync(out, '');
    const fd = openSync(out, 'r+');
    try {
      await expect(sendLv(pvs, 'vgst/s1', 'vgst/t1', fd, probe)).rejects.toThrow(
        /^vgst\/s1 is a thin LV of vgst\/pool, which the kernel runs from these disks \(vgst-pool-tpool\): .* Send it through the kernel/,
      );
    } finally {
      closeSync(fd);
    }
    expect(statSync(out).size).toBe(0);
  });
});

describe("the library's receive refuses what the CLI refused", () => {
  it('receive into something not a regular file needs a state record: beside a device node it would not survive a reboot', async () => {
    await expect(receive(tmp.path('never-read.stream'), '/dev/null')).rejects.toThrow(
      new ArgumentError(
        '/dev/null is not a regular file: give --state FILE, where its received state is kept (beside it, in /dev, it would not survive a reboot)',
      ),
    );
  });

  it('receiveIntoThin refuses a state record that is the stream, before it looks for the pool', async () => {
    const s = tmp.path('same.stream');
    writeFileSync(s, 'x');
    await expect(receiveIntoThin(s, { pool: 'no-such-pool', thinId: 1, state: s })).rejects.toThrow(
      new ArgumentError(`the output ${s} is an input: dmthin never writes over what it reads; give another output`),
    );
  });
});
