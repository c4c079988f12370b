/**
 * dmthin lvm diff on the kernel-made lvm-single PV (thin1 and its snapshot
 * snap1, no filesystem on them): the LVs resolved by LVM's names, and every
 * refusal one line. Files themselves are compared by test/cli/diff.test.ts
 * on the kernel-made fsdiff pool.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const image = tmp.path('lvm-single.pv');
xzDecompress(join(projectRoot, 'fixtures', 'lvm-single.pv.xz'), image);

describe('dmthin lvm diff', () => {
  it('two thin LVs of one pool without a filesystem: one line saying so and naming delta, exit 1, nothing on stdout', () => {
    const r = dmthin('lvm', 'diff', image, 'vgfx/snap1', 'vgfx/thin1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`dmthin lvm delta ${image} vgfx/pool --snap1 2 --snap2 1`);
    expect(r.stderr).toMatch(/vgfx\/thin1: .*no ext2\/3\/4 or XFS superblock/);
  });

  it("a thin LV lvremove took away is found by the name LVM's history gives it (its pool's device 3), and an unknown name lists the removed ones", () => {
    const pvs = [1, 2].map((i) => {
      const p = tmp.path(`striped-${i}.pv`);
      xzDecompress(join(projectRoot, 'fixtures', `lvm-striped-${i}.pv.xz`), p);
      return p;
    });
    // No filesystem on these LVs: the refusal names both sides as resolved, the removed one as such.
    const r = dmthin('lvm', 'diff', ...pvs, 'vgst/gone', 'vgst/t1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no ext2\/3\/4 or XFS superblock.*vgst\/gone \(removed\) read as recovery brings it back; export --deleted/);
    const n = dmthin('lvm', 'diff', ...pvs, 'vgst/nosuch', 'vgst/t1');
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/removed thin LVs LVM's history names: gone\)/);
  });

  it('an LV the VG lacks is a usage error naming its thin LVs; a pool is not a thin LV', () => {
    const r = dmthin('lvm', 'diff', image, 'vgfx/nosuch', 'vgfx/thin1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no LV nosuch in VG vgfx .*thin1/);
    const p = dmthin('lvm', 'diff', image, 'vgfx/pool', 'vgfx/thin1');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/vgfx\/pool is not a thin LV/);
    expect(dmthin('lvm', 'diff', image, 'vgfx/thin1').code).toBe(2);
  });
});
