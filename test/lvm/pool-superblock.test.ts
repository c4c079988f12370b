/**
 * `lvm ls` on a pool whose metadata superblock holds a data_block_size the
 * kernel would refuse (0, under a valid checksum): a named problem and
 * exit 1, never every thin LV reported as 0 bytes mapped with exit 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SUPERBLOCK_MAGIC } from '../../src/format/superblock.js';
import { Salt, stampChecksum } from '../../src/format/checksum.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** Sets data_block_size in the thin superblock inside a PV image (found by its magic and blocknr 0 at a 4 KiB boundary). */
function patchPoolSuperblock(image: string, sectors: number): void {
  const fd = openSync(image, 'r+');
  try {
    const b = new Uint8Array(4096);
    const dv = new DataView(b.buffer);
    for (let at = 0; readSync(fd, b, 0, 4096, at) === 4096; at += 4096) {
      if (dv.getUint32(32, true) !== SUPERBLOCK_MAGIC || dv.getBigUint64(4, true) !== 0n || dv.getUint32(340, true) !== 8) continue;
      dv.setUint32(336, sectors, true);
      stampChecksum(b, Salt.superblock);
      writeSync(fd, b, 0, 4096, at);
      return;
    }
    throw new Error(`no thin superblock in ${image}`);
  } finally {
    closeSync(fd);
  }
}

describe('lvm ls: an impossible data block size in the pool superblock', () => {
  it('is a named problem with exit 1, and no thin LV is given a mapped size', () => {
    const image = tmp.path('lvm-single.pv');
    xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), image);
    const good = dmthin('lvm', 'ls', '--json', image);
    expect(good.code, good.stderr).toBe(0);
    const thins = (JSON.parse(good.stdout) as { vgs: Array<{ lvs: Array<{ type: string; mapped_bytes?: number }> }> }).vgs[0].lvs.filter(
      (l) => l.type === 'thin',
    );
    expect(thins.length).toBeGreaterThan(0);
    for (const lv of thins) expect(lv.mapped_bytes).toBeGreaterThan(0);
    patchPoolSuperblock(image, 0);
    const r = dmthin('lvm', 'ls', '--json', image);
    expect(r.code).toBe(1);
    const inv = JSON.parse(r.stdout) as {
      problems: Array<{ kind: string; detail: string }>;
      vgs: Array<{ lvs: Array<{ type: string; mapped_bytes?: number }> }>;
    };
    expect(inv.problems).toContainEqual(
      expect.objectContaining({ kind: 'unreadable_pool_metadata', detail: expect.stringMatching(/data_block_size 0 sectors/) }),
    );
    for (const lv of inv.vgs[0].lvs.filter((l) => l.type === 'thin')) expect(lv.mapped_bytes).toBeUndefined();
  });
});
