/**
 * A set of disk images is scanned once per command (issue 22, item 2): each
 * lvm verb scans the images it is given once, however many parts it is made
 * of (export --deleted and undelete read LVM's history, then the pool; ls
 * --deleted the history and every pool), and verbs given one opened set
 * (images.ts) share its scan and its history, as a command of several verbs
 * (lvm send: the plan, then the send) does. Scans are counted by wrapping
 * scan.ts's scanImages, on the two-PV fixture lvm2 made (lvm-striped: pool
 * vgst/pool, thin t1 and its snapshot s1, "gone" removed).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeSync, openSync } from 'node:fs';
import { lvmDeleted } from '../../src/lvm/deleted-lvs.js';
import { exportLv } from '../../src/lvm/export-lv.js';
import { exportDeletedLv } from '../../src/lvm/export-deleted-lv.js';
import { fixVgText } from '../../src/lvm/fix-vg-text.js';
import { historyOf } from '../../src/lvm/history.js';
import { lvmHistory, openImages } from '../../src/lvm/images.js';
import { lvmInventory } from '../../src/lvm/inventory.js';
import { lvNotReadable } from '../../src/lvm/lv-source.js';
import { openPool } from '../../src/lvm/open-pool.js';
import type { RunningProbe } from '../../src/lvm/running.js';
import { scanImages } from '../../src/lvm/scan.js';
import { planLvSend, sendLv } from '../../src/lvm/send-lv.js';
import { undeleteLv } from '../../src/lvm/undelete-lv.js';
import { emptyFile, scratch } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';

// Each wrapped: the real function, its calls counted.
vi.mock('../../src/lvm/scan.js', async (real) => {
  const m = await real<typeof import('../../src/lvm/scan.js')>();
  return { ...m, scanImages: vi.fn(m.scanImages) };
});
vi.mock('../../src/lvm/history.js', async (real) => {
  const m = await real<typeof import('../../src/lvm/history.js')>();
  return { ...m, historyOf: vi.fn(m.historyOf) };
});
vi.mock('../../src/lvm/lv-source.js', async (real) => {
  const m = await real<typeof import('../../src/lvm/lv-source.js')>();
  return { ...m, lvNotReadable: vi.fn(m.lvNotReadable) };
});

const scans = vi.mocked(scanImages);
const histories = vi.mocked(historyOf);
const judgments = vi.mocked(lvNotReadable);

const tmp = scratch();
afterAll(() => tmp.cleanup());
const notRunning: RunningProbe = () => undefined;
let pvs: string[] = [];
beforeAll(() => {
  pvs = unpackStripedPvs(tmp.path);
});
beforeEach(() => {
  scans.mockClear();
  histories.mockClear();
  judgments.mockClear();
});

/** `fn` given a new empty file's descriptor, closed once `fn` has settled. */
async function toFile<T>(name: string, fn: (fd: number) => T): Promise<Awaited<T>> {
  const fd = openSync(tmp.path(name), 'w');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

describe('the images are scanned once per command', () => {
  it('each lvm verb given paths scans them once, however many parts it is made of', async () => {
    const once = async (what: string, verb: () => unknown): Promise<void> => {
      scans.mockClear();
      await verb();
      expect({ what, scans: scans.mock.calls.length }).toEqual({ what, scans: 1 });
    };
    await once('ls', () => lvmInventory(pvs));
    await once('ls --deleted', () => lvmDeleted(pvs));
    await once('history', () => lvmHistory(pvs));
    await once('export', () => toFile('t1', (fd) => exportLv(pvs, 'vgst/t1', fd, { running: notRunning })));
    await once('export --deleted', () => toFile('gone', (fd) => exportDeletedLv(pvs, 'vgst/gone', fd, { running: notRunning })));
    await once('undelete', () => undeleteLv(pvs, 'vgst/gone', emptyFile(tmp.path('meta'), 4 << 20), tmp.path('vg.txt'), { running: notRunning }));
    await once('send plan', () => planLvSend(pvs, 'vgst/t1', undefined, notRunning));
    await once('send', () => toFile('t1.stream', (fd) => sendLv(pvs, 'vgst/t1', undefined, fd, notRunning)));
    await once('a pool verb', () => openPool(pvs, 'vgst/pool', notRunning).close());
    await once('ls --fix-vg-text', () => expect(() => fixVgText(pvs)).toThrow(/has a transaction-id mismatch: nothing to fix/));
  });

  it('verbs given one opened set share its scan and its history, and leave it open until it is closed', async () => {
    const images = openImages(pvs);
    expect(scans).not.toHaveBeenCalled(); // nothing read before a verb asks
    const plan = planLvSend(images, 'vgst/s1', 'vgst/t1', notRunning);
    const sent = await toFile('s1.stream', (fd) => sendLv(images, 'vgst/s1', 'vgst/t1', fd, notRunning));
    expect(sent).toMatchObject({ lv: 'vgst/s1', baseLv: 'vgst/t1' });
    expect(plan.baseId).toBeDefined();
    openPool(images, 'vgst/pool', notRunning).close();
    expect(lvmHistory(images).deleted.map((r) => r.name)).toEqual(['gone']);
    expect(lvmDeleted(images).pools).toHaveLength(1);
    await toFile('gone', (fd) => exportDeletedLv(images, 'vgst/gone', fd, { running: notRunning }));
    undeleteLv(images, 'vgst/gone', emptyFile(tmp.path('meta2'), 4 << 20), tmp.path('vg2.txt'), { running: notRunning });
    await toFile('lin', (fd) => exportLv(images, 'vgst/lin', fd, { running: notRunning }));
    expect(lvmInventory(images).vgs.map((v) => v.name)).toEqual(['vgst']);
    expect(scans).toHaveBeenCalledTimes(1);
    expect(histories).toHaveBeenCalledTimes(1);
    images.close();
    // Read after it was closed is dmthin's own bug (an Error, not a UsageError), never a second scan.
    expect(() => lvmInventory(images)).toThrow(/were read after they were closed/);
    expect(scans).toHaveBeenCalledTimes(1);
  });

  it('verbs sharing a scan answer as each does alone: the problems one adds are not another’s', () => {
    // pv1 alone: pv0 missing, the pool's data LV not whole (ls and ls --deleted each add a problem of their own).
    const alone = [pvs[1]];
    const images = openImages(alone);
    try {
      // Each verb twice, in turn: one that added its problems to the scan's would show them in the next one's answer.
      const shared = [lvmInventory(images), lvmDeleted(images), lvmHistory(images), lvmInventory(images), lvmDeleted(images)];
      const alone1 = [lvmInventory(alone), lvmDeleted(alone), lvmHistory(alone)];
      expect(alone1[1].problems.map((p) => p.kind)).toContain('unreadable_pool_data');
      expect(shared).toEqual([...alone1, alone1[0], alone1[1]]);
    } finally {
      images.close();
    }
  });
});

describe('lvm ls judges each LV once', () => {
  it('whether each LV can be read whole is worked out once, hidden pool LVs included', () => {
    for (const images of [pvs, [pvs[1]], [pvs[0]]]) {
      judgments.mockClear();
      lvmInventory(images);
      const perLv = new Map<string, number>();
      for (const [, lv] of judgments.mock.calls) perLv.set(lv, (perLv.get(lv) ?? 0) + 1);
      expect(perLv.size).toBeGreaterThan(0);
      expect({ images, twice: [...perLv].filter(([, n]) => n > 1) }).toEqual({ images, twice: [] });
    }
  });
});
