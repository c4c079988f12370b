/**
 * metadata pack / unpack, byte-compatible both ways with thin_metadata_pack
 * and thin_metadata_unpack (1.1), on thin-provisioning-tools' own packs and
 * kernel-made metadata.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { classifyBlock } from '../../src/format/checksum.js';
import { check } from '../../src/thin/check/check.js';
import { dmthin } from '../support/cli.js';
import { oracle, scratch, skipReason, tpt11 } from '../support/env.js';
import { tptPacks, unpackKernelFixture } from '../support/fixtures.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const packs = tptPacks();

/** The blocks a pack keeps: those with a valid checksum of a known kind, the rest zero. */
function packable(file: string): Buffer {
  const b = Buffer.from(readFileSync(file));
  for (let off = 0; off < b.length; off += 4096) if (!classifyBlock(b.subarray(off, off + 4096))) b.fill(0, off, off + 4096);
  return b;
}

describe.skipIf(skipReason(packs.length > 0, '../shared/fixtures/tpt-testdata absent: pack tests on tpt packs'))("thin-provisioning-tools' packs", () => {
  it.skipIf(skipReason(!!tpt11, 'thin_metadata_unpack 1.1 missing: pack byte comparisons'))(
    'dmthin unpack gives byte for byte what thin_metadata_unpack gives',
    () => {
      for (const p of packs) {
        const ours = tmp.path(`${basename(p)}.ours`);
        const theirs = tmp.path(`${basename(p)}.theirs`);
        expect(dmthin('metadata', 'unpack', '-i', p, '-o', ours).code).toBe(0);
        expect(oracle('1.1', 'thin_metadata_unpack', ['-i', p, '-o', theirs]).code).toBe(0);
        expect(readFileSync(ours).equals(readFileSync(theirs)), basename(p)).toBe(true);
      }
    },
  );

  it('unpacks tmeta.pack into metadata that checks clean', () => {
    const out = tmp.path('tmeta.bin');
    expect(
      dmthin(
        'metadata',
        'unpack',
        '-i',
        must(
          packs.find((p) => p.endsWith('/tmeta.pack')),
          'tmeta.pack',
        ),
        '-o',
        out,
      ).code,
    ).toBe(0);
    expect(check(out).ok).toBe(true);
  });
});

describe('pack round trips', () => {
  it('dmthin pack -> dmthin unpack keeps every block with a valid checksum, zeroes the rest', () => {
    const k = unpackKernelFixture(tmp.dir);
    const p = tmp.path('k.pack');
    const out = tmp.path('k.out');
    expect(dmthin('metadata', 'pack', '-i', k, '-o', p).code).toBe(0);
    expect(dmthin('metadata', 'unpack', '-i', p, '-o', out).code).toBe(0);
    expect(readFileSync(out).equals(packable(k))).toBe(true);
    expect(check(out).ok).toBe(true);
  });

  it.skipIf(skipReason(!!tpt11, 'thin_metadata_pack 1.1 missing: cross-tool pack tests'))(
    'thin_metadata_unpack reads dmthin packs; dmthin reads thin_metadata_pack packs',
    () => {
      const k = unpackKernelFixture(tmp.dir);
      const ours = tmp.path('ours.pack');
      const theirs = tmp.path('theirs.pack');
      expect(dmthin('metadata', 'pack', '-i', k, '-o', ours).code).toBe(0);
      expect(oracle('1.1', 'thin_metadata_pack', ['-i', k, '-o', theirs]).code).toBe(0);
      const a = tmp.path('a.bin');
      const b = tmp.path('b.bin');
      expect(oracle('1.1', 'thin_metadata_unpack', ['-i', ours, '-o', a]).code).toBe(0);
      expect(dmthin('metadata', 'unpack', '-i', theirs, '-o', b).code).toBe(0);
      expect(readFileSync(a).equals(packable(k))).toBe(true);
      expect(readFileSync(b).equals(packable(k))).toBe(true);
    },
  );

  it('refuses what is not a pack, and a truncated one, with a clear message', () => {
    const junk = tmp.path('junk.pack');
    writeFileSync(junk, Buffer.alloc(100, 7));
    expect(dmthin('metadata', 'unpack', '-i', junk, '-o', tmp.path('x')).stderr).toMatch(/is not a pack file \(bad magic\)/);
    const k = unpackKernelFixture(tmp.dir);
    const p = tmp.path('t.pack');
    dmthin('metadata', 'pack', '-i', k, '-o', p);
    const cut = tmp.path('cut.pack');
    writeFileSync(cut, readFileSync(p).subarray(0, 5000));
    const r = dmthin('metadata', 'unpack', '-i', cut, '-o', tmp.path('y'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/runs past the end of the file/);
  });
});
