/**
 * containerd's stores as an attacker or a failing disk leaves them: random
 * bytes of the real stores changed, many times over. Reading them (the
 * inventory, and the free-page search for removed snapshots) must end in
 * an answer or one of dmthin's typed errors naming the file, never in a
 * TypeError, a RangeError or a hang.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerdInventory } from '../../src/containerd/inventory.js';
import { openContainerdPool } from '../../src/containerd/pool-source.js';
import { survivingRecords } from '../../src/containerd/surviving-records.js';
import { UsageError } from '../../src/errors.js';
import { BoltError } from '../../src/format/bbolt/errors.js';
import { scratch } from '../support/env.js';
import { unpackContainerdHost } from '../support/fixtures.js';
import { prng } from '../bench/pool-generator.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const host = unpackContainerdHost(tmp.dir);
const files = {
  meta: join(host.root, 'io.containerd.metadata.v1.bolt', 'meta.db'),
  snapshots: join(host.snapshotterRoot, 'metadata.db'),
  devices: join(host.snapshotterRoot, 'ctdpool.db'),
};
const pristine = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, readFileSync(f)])) as Record<keyof typeof files, Buffer>;

describe('hostile stores', () => {
  it('600 damaged copies of the three stores: an answer or a typed error naming the file, every time', () => {
    const rnd = prng(26);
    let answered = 0;
    let refused = 0;
    for (let round = 0; round < 600; round++) {
      const which = (['meta', 'snapshots', 'devices'] as const)[round % 3];
      const bytes = Buffer.from(pristine[which]);
      const flips = 1 + Math.floor(rnd() * 16);
      for (let i = 0; i < flips; i++) {
        // Most of a bbolt file is empty page tails: aim at the first bytes of pages, where headers and elements are.
        const page = Math.floor(rnd() * (bytes.length / 4096));
        bytes[page * 4096 + Math.floor(rnd() * 256)] = Math.floor(rnd() * 256);
      }
      writeFileSync(files[which], bytes);
      try {
        const src = openContainerdPool({ root: host.root, metadata: host.metadata, data: host.data });
        try {
          const inv = containerdInventory(src);
          expect(Array.isArray(inv.snapshots)).toBe(true);
          survivingRecords(src.stores.dbs);
          answered++;
        } finally {
          src.close();
        }
      } catch (e) {
        if (!(e instanceof BoltError || e instanceof UsageError)) throw new Error(`round ${round} (${which}): ${(e as Error).stack}`);
        expect((e as Error).message).toContain(files[which]);
        expect((e as Error).message).not.toContain('\n');
        refused++;
      }
      writeFileSync(files[which], pristine[which]);
    }
    expect(answered + refused).toBe(600);
    expect(answered).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
