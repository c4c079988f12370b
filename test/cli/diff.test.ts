/**
 * dmthin diff on the kernel-made fsdiff pool (fixtures/fsdiff.*): ext4 on
 * thin 1 changed after its snapshot thin 2 was taken, XFS on thin 3 after
 * its snapshot thin 4, in the VM; the truth
 * is the two mounted trees compared whole, listed by docker diff's rules
 * (fixtures/fsdiff.expected.json), never dmthin's own output.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const meta = tmp.path('fsdiff.meta');
const data = tmp.path('fsdiff.data');
xzDecompress(join(projectRoot, 'fixtures', 'fsdiff.meta.xz'), meta);
xzDecompress(join(projectRoot, 'fixtures', 'fsdiff.data.xz'), data);
const truth = JSON.parse(readFileSync(join(projectRoot, 'fixtures', 'fsdiff.expected.json'), 'utf8'));

type Change = { kind: string; path: string; inode: number; size_before: number | null; size_after: number | null };
const norm = (c: Partial<Change>) => ({ kind: c.kind, path: c.path, inode: c.inode, size_before: c.size_before ?? null, size_after: c.size_after ?? null });

describe('dmthin diff', () => {
  // Both filesystems: ext4 on thin 1 (64 MiB) after its snapshot 2, XFS on thin 3 (320 MiB) after its snapshot 4.
  for (const [fs, summary, deviceBytes] of [
    ['ext4', /ext4, 4096-byte blocks/, 64 << 20],
    ['xfs', /xfs, 4096-byte blocks/, 320 << 20],
  ] as const) {
    it(`lists what changed on ${fs} after the snapshot exactly as docker diff's rules give it from the mounted trees`, () => {
      const t = truth[fs];
      const r = dmthin('diff', '--metadata', meta, '--data', data, '--snap1', String(t.snapshot), '--snap2', String(t.origin));
      expect(r.code, r.stderr).toBe(0);
      // docker diff prints in map order: compared as sorted sets.
      expect(r.stdout.trim().split('\n').sort()).toEqual([...t.docker_diff].sort());
      expect(r.stderr).toMatch(summary);
    });

    it(`--json on ${fs}: kind, path, inode and both sizes of every change as the mounted filesystem gave them; only a fraction of the devices read`, () => {
      const t = truth[fs];
      const r = dmthin('diff', meta, '--data', data, '--snap1', String(t.snapshot), '--snap2', String(t.origin), '--json');
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { filesystem: string; changes: Change[]; bytes_read: number; changed_bytes: number };
      const byPath = (a: { path?: string }, b: { path?: string }) => ((a.path ?? '') < (b.path ?? '') ? -1 : 1);
      expect(out.changes.map(norm).sort(byPath)).toEqual((t.changes as Change[]).map(norm).sort(byPath));
      // Both devices together: what was read is a small part of them.
      expect(out.bytes_read).toBeGreaterThan(0);
      expect(out.bytes_read).toBeLessThan((2 * deviceBytes) / 20);
    });
  }

  it('usage: no --data, no metadata, or a device the pool lacks', () => {
    expect(dmthin('diff', meta, '--snap1', '2', '--snap2', '1').code).toBe(2);
    expect(dmthin('diff', '--data', data, '--snap1', '2', '--snap2', '1').code).toBe(2);
    const r = dmthin('diff', meta, '--data', data, '--snap1', '9', '--snap2', '1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/9/);
  });
});
