/**
 * dmthin lvm diff on the kernel-made lvm-single PV (thin1 and its snapshot
 * snap1, no filesystem on them): the LVs resolved by LVM's names, and every
 * refusal one line. Files are compared on the kernel-made lvm-fs PV: ext4 on
 * thin LVs made by lvm2, changed after an lvcreate -s snapshot, the truth the
 * two mounted trees walked whole in the VM (fixtures/lvm-fs.expected.json),
 * never dmthin's own output; and a removed LV against its surviving snapshot.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

describe('dmthin lvm diff on ext4 LVs lvm2 made (fixtures/lvm-fs.*)', () => {
  const pv = tmp.path('lvm-fs.pv');
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-fs.pv.xz'), pv);
  const truth = JSON.parse(readFileSync(join(projectRoot, 'fixtures', 'lvm-fs.expected.json'), 'utf8'));
  const facts = readFileSync(join(projectRoot, 'fixtures', 'lvm-fs.facts'), 'utf8');
  // lvm-fs.facts: "lv vgfs/NAME BYTES bytes, md5 HEX", as the kernel read each LV through LVM.
  const sums = new Map([...facts.matchAll(/^lv (\S+) (\d+) bytes, md5 ([0-9a-f]{32})$/gm)].map((m) => [m[1], { bytes: Number(m[2]), md5: m[3] }]));
  const md5 = (path: string): string => createHash('md5').update(readFileSync(path)).digest('hex');

  type Change = { kind: string; path: string; inode: number; size_before: number | null; size_after: number | null };
  const norm = (c: Partial<Change>) => ({ kind: c.kind, path: c.path, inode: c.inode, size_before: c.size_before ?? null, size_after: c.size_after ?? null });
  const byPath = (a: { path?: string }, b: { path?: string }) => ((a.path ?? '') < (b.path ?? '') ? -1 : 1);

  it('the facts name all four LVs (the removed one as such) and the truth holds changes for both pairs', () => {
    expect([...sums.keys()].sort()).toEqual(['vgfs/gone', 'vgfs/gone-snap', 'vgfs/web', 'vgfs/web-snap']);
    expect(facts).toMatch(/^removed vgfs\/gone thin_id \d+$/m);
    expect(truth.web.docker_diff.length).toBeGreaterThan(10);
    expect(truth.gone.docker_diff.length).toBeGreaterThan(10);
  });

  it('web after its snapshot web-snap: the lines docker diff would print, exactly as the mounted trees gave them', () => {
    const r = dmthin('lvm', 'diff', pv, truth.web.snapshot, truth.web.origin);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([...truth.web.docker_diff].sort());
    expect(r.stderr).toMatch(/ext4, 4096-byte blocks/);
  });

  it('--json on web: kind, path, inode and both sizes of every change as the mounted filesystem gave them, a small fraction of both LVs read', () => {
    const r = dmthin('lvm', 'diff', pv, truth.web.snapshot, truth.web.origin, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { filesystem: string; changes: Change[]; bytes_read: number };
    expect(out.filesystem).toMatch(/^ext4, 4096-byte blocks/);
    expect(out.changes.map(norm).sort(byPath)).toEqual((truth.web.changes as Change[]).map(norm).sort(byPath));
    const both = must(sums.get('vgfs/web')).bytes + must(sums.get('vgfs/web-snap')).bytes;
    expect(out.bytes_read).toBeGreaterThan(0);
    expect(out.bytes_read).toBeLessThan(both / 20);
  });

  it('the removed LV gone against its surviving snapshot gone-snap: read as recovery brings it back, the changes the mounted trees gave before lvremove', () => {
    const ls = JSON.parse(dmthin('lvm', 'ls', '--deleted', '--json', pv).stdout) as {
      pools: Array<{ devices: Array<{ name: string; reallocated: number; unknown: number }> }>;
    };
    const gone = must(ls.pools[0]?.devices.find((d) => d.name === 'gone'));
    // web was made and written after the lvremove, yet the allocator ran on past gone's freed
    // blocks (next-fit): none was reallocated, none unknown, so the whole truth must come back.
    expect(gone).toMatchObject({ reallocated: 0, unknown: 0 });
    const r = dmthin('lvm', 'diff', pv, truth.gone.snapshot, truth.gone.origin, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { changes: Change[] };
    expect(out.changes.map(norm).sort(byPath)).toEqual((truth.gone.changes as Change[]).map(norm).sort(byPath));
    const lines = dmthin('lvm', 'diff', pv, truth.gone.snapshot, truth.gone.origin);
    expect(lines.stdout.trim().split('\n').sort()).toEqual([...truth.gone.docker_diff].sort());
    expect(lines.stderr).toMatch(/vgfs\/gone \(removed\)/);
  });

  it("every LV's export has the md5 the kernel read through LVM (the removed one by export --deleted)", () => {
    for (const [lv, sum] of sums) {
      const out = tmp.path(`${lv.replace('/', '-')}.img`);
      const r = dmthin('lvm', 'export', pv, lv, ...(lv === 'vgfs/gone' ? ['--deleted'] : []), '-o', out);
      expect(r.code, `${lv}: ${r.stderr}`).toBe(0);
      expect(md5(out), lv).toBe(sum.md5);
    }
  });
});

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('missing from the fixture');
  return v;
}
