/**
 * What a file given as pool metadata holds instead (format/foreign.ts), on
 * files the real tools made: lvm2's PV (fixtures/lvm-single), a disk with a
 * GPT partition table and a PV in it (fixtures/lvm-disk), mke2fs's ext4;
 * and never on metadata, whole or with its superblock destroyed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FOREIGN_HEAD_BYTES, foreignContent } from '../../src/format/foreign.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, runTool, scratch, skipReason, xzDecompress } from '../support/env.js';

const s = scratch('dmthin-foreign-');
afterAll(() => s.cleanup());
const unpack = (name: string): string => {
  const out = s.path(name.replace(/\.xz$/, ''));
  xzDecompress(join(projectRoot, 'fixtures', name), out);
  return out;
};
const head = (path: string): Uint8Array => readFileSync(path).subarray(0, FOREIGN_HEAD_BYTES);

describe('a file that is not pool metadata is named for what it is', () => {
  it("an LVM PV (lvm2's): named, with dmthin lvm ls; check, doctor and shrink refuse it with exit 2", () => {
    const pv = unpack('lvm-single.pv.xz');
    expect(foreignContent(head(pv), pv)).toMatch(/^an LVM physical volume \(its label in sector 1\): .*dmthin lvm ls .*lvm-single\.pv lists its pools/);
    const data = s.path('data');
    writeFileSync(data, Buffer.alloc(1 << 20));
    for (const args of [
      ['check', pv],
      ['doctor', '--metadata', pv],
      ['shrink', '--metadata', pv, '--data', data, '--size', '1m'],
    ]) {
      const r = dmthin(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, r.stderr).toMatch(/is not pool metadata: it is an LVM physical volume/);
    }
  });

  it('a disk with a GPT partition table', () => {
    const disk = unpack('lvm-disk.pv.xz');
    expect(foreignContent(head(disk), disk)).toMatch(/^a disk with a GPT partition table: if LVM is on it, dmthin lvm ls/);
  });

  it.skipIf(skipReason(existsSync('/usr/sbin/mke2fs'), 'mke2fs is not installed: the ext4 signature is not tried'))('an ext4 filesystem', () => {
    const fs = s.path('ext4.img');
    writeFileSync(fs, Buffer.alloc(4 << 20));
    expect(runTool('/usr/sbin/mke2fs', ['-q', '-F', '-t', 'ext4', fs]).code).toBe(0);
    expect(foreignContent(head(fs), fs)).toMatch(/^an ext2\/3\/4 filesystem: a thin device's contents/);
  });

  it('never pool metadata: whole, or with its superblock zeroed (damage, for the doctor)', () => {
    const meta = unpack('recovery-a.meta.xz');
    expect(foreignContent(head(meta), meta)).toBeUndefined();
    const b = readFileSync(meta);
    b.fill(0, 0, 4096);
    writeFileSync(meta, b);
    expect(foreignContent(head(meta), meta)).toBeUndefined();
    expect(dmthin('check', meta).code).toBe(1);
  });
});
