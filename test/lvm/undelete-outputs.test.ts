/**
 * `lvm undelete` writes two files, new pool metadata and a VG text: both or
 * neither. On the two-PV fixture made by lvm2 (lvm-striped, with the thin
 * LV "gone" removed), a VG text that cannot be written must leave the
 * metadata output as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dmthin } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { unpackStripedPvs } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('lvm undelete: the metadata and the VG text stand or fall together', () => {
  let pvs: string[] = [];
  beforeAll(() => {
    pvs = unpackStripedPvs(tmp.path);
  });

  it('a VG text that cannot be written (/dev/full) leaves the metadata output untouched', () => {
    // Before: the metadata had been committed first, and only then did writing the text fail.
    const meta = tmp.path('new.meta');
    const old = new Uint8Array(4 << 20).fill(0xa5);
    writeFileSync(meta, old);
    const before = sha(meta);
    const r = dmthin('lvm', 'undelete', ...pvs, 'vgst/gone', '-o', meta, '--vg-text', '/dev/full');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\/dev\/full/);
    expect(sha(meta)).toBe(before);
    // The same with a good VG text path writes both.
    const text = tmp.path('vgst.txt');
    const ok = dmthin('lvm', 'undelete', ...pvs, 'vgst/gone', '-o', meta, '--vg-text', text);
    expect(ok.code, ok.stderr).toBe(0);
    expect(sha(meta)).not.toBe(before);
    expect(readFileSync(text, 'utf8')).toMatch(/^\s*gone \{$/m);
  });

  it('a metadata output that cannot take the metadata leaves no VG text', () => {
    const small = tmp.path('small.meta');
    writeFileSync(small, new Uint8Array(8192));
    const text = tmp.path('never.txt');
    const r = dmthin('lvm', 'undelete', ...pvs, 'vgst/gone', '-o', small, '--vg-text', text);
    expect(r.code).toBe(1);
    expect(existsSync(text)).toBe(false);
    expect(readFileSync(small)).toEqual(Buffer.alloc(8192));
  });
});
