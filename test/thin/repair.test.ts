/**
 * Repair on the project's kernel-made fixtures, damaged in named ways
 * (test/bench/repair-measure.ts): mappings are counted against the
 * undamaged original. dmthin must never hand back a wrong mapping or a
 * deleted device, must lose no device, must recover at least what
 * thin_repair 0.9 (which never rolls back) recovers, and its output must
 * pass thin_check. Healthy metadata repairs to an identical dump.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { CASES, fixture, runTool as repairWith, sweepLeaves } from '../bench/repair-measure.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, oracle, scratch, skipReason, tpt09, tpt11 } from '../support/env.js';
import { tptPacks, unpackTpt } from '../support/fixtures.js';
import { readBlock } from '../support/damage.js';
import { check } from '../../src/thin/check/check.js';
import { computeChecksum, Salt, storedChecksum } from '../../src/format/checksum.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

function dumpOf(path: string, ...args: string[]): string {
  const r = dmthin('dump', ...args, path);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('repair of kernel-made metadata, damaged', () => {
  for (const c of CASES) {
    it(`${c.name}: no wrong mapping, no device lost or resurrected, output passes thin_check`, () => {
      const orig = fixture(c.fixture, tmp.dir);
      const originalXml = dumpOf(orig);
      const damaged = tmp.path('damaged.meta');
      copyFileSync(orig, damaged);
      c.damage(damaged);
      const before = readFileSync(damaged);
      const ours = repairWith('dmthin', damaged, originalXml, tmp.dir, c.args);
      expect(ours.ok, ours.error).toBe(true);
      expect(readFileSync(damaged).equals(before), 'the input is never written').toBe(true);
      const s = must(ours.score, 'the score of a repair that succeeded');
      expect(s.wrong).toBe(0);
      expect(s.extraDevices).toEqual([]);
      expect(s.lostDevices).toEqual([]);
      if (tpt11) expect(ours.checks).toBe(true);
      if (tpt09) {
        const theirs = repairWith('thin_repair 0.9', damaged, originalXml, tmp.dir, c.args);
        if (theirs.score) expect(s.correct).toBeGreaterThanOrEqual(theirs.score.correct);
      }
    });
  }

  it('every leaf of every device zeroed in turn: never a wrong mapping, a lost or resurrected device, or output thin_check rejects', () => {
    const orig = fixture('snapshots', tmp.dir);
    const { leaves, totals } = sweepLeaves(orig, [1, 2, 4, 5], tpt09 ? ['dmthin', 'thin_repair 0.9'] : ['dmthin'], tmp.dir);
    const t = totals.dmthin;
    expect(leaves).toBeGreaterThan(10);
    expect(t.failed).toBe(0);
    expect(t.wrong).toBe(0);
    expect(t.deviceErrors).toBe(0);
    if (tpt11) expect(t.failsCheck).toBe(0);
    // thin_repair 0.9 keeps the newest generation and recovers nothing: dmthin must do better.
    if (tpt09) expect(t.correct).toBeGreaterThan(totals['thin_repair 0.9'].correct);
  }, 120_000);

  it('a bad superblock checksum costs nothing: every mapping comes back', () => {
    const orig = fixture('snapshots', tmp.dir);
    const damaged = tmp.path('sbsum.meta');
    copyFileSync(orig, damaged);
    const b = readFileSync(damaged);
    b[1] = b[1] ^ 0x40;
    writeFileSync(damaged, b);
    expect(storedChecksum(readBlock(damaged, 0))).not.toBe(computeChecksum(readBlock(damaged, 0), Salt.superblock));
    const originalXml = dumpOf(orig);
    const r = repairWith('dmthin', damaged, originalXml, tmp.dir);
    expect(r.ok, r.error).toBe(true);
    expect(r.score?.missing).toBe(0);
    expect(r.score?.wrong).toBe(0);
    // dump --repair prints the same as the undamaged dump (repair clears needs_check and drops the metadata snapshot).
    expect(dumpOf(damaged, '--repair')).toBe(originalXml);
  });

  it("a zeroed superblock: the block size comes from the metadata snapshot's copy, no option needed", () => {
    const orig = fixture('snapshots', tmp.dir);
    const damaged = tmp.path('sbzero.meta');
    copyFileSync(orig, damaged);
    const b = readFileSync(damaged);
    b.fill(0, 0, 4096);
    writeFileSync(damaged, b);
    const r = repairWith('dmthin', damaged, dumpOf(orig), tmp.dir);
    expect(r.ok, r.error).toBe(true);
    expect(r.score?.wrong).toBe(0);
    expect(r.score?.missing).toBe(0);
  });
});

describe('repair when the newest trees are gone', () => {
  it('refuses to fall back to an older generation unasked, names the survivors, and rebuilds from one when told', () => {
    const orig = fixture('snapshots', tmp.dir);
    const cut = tmp.path('cut.meta');
    copyFileSync(orig, cut);
    truncateSync(cut, 156 * 4096); // before both trees of the newest generation
    const out = emptyFile(tmp.path('cut-out.meta'), 16 << 20);
    const r = dmthin('repair', '-i', cut, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no compatible roots found: the superblock's trees \(mapping root \d+, details root \d+\) are lost; the metadata is truncated/);
    const found = /--override-mapping-root (\d+) --override-details-root (\d+) \(thin ids ([\d,]+)\)/.exec(r.stderr);
    expect(found, r.stderr).not.toBeNull();
    const m = must(found, 'the refusal naming the surviving roots');
    const again = dmthin('repair', '-q', '-i', cut, '-o', out, '--override-mapping-root', m[1], '--override-details-root', m[2]);
    expect(again.code, again.stderr).toBe(0);
    expect(
      must(dumpOf(out).match(/<device dev_id="(\d+)"/g), 'the devices of the dump')
        .map((x) => x.replace(/\D/g, ''))
        .join(','),
    ).toBe(m[3]);
    if (tpt11) expect(oracle('1.1', 'thin_check', ['-q', out]).code).toBe(0);
  });
});

describe("repair of thin-provisioning-tools' damaged test packs", () => {
  const pack = tptPacks().find((p) => p.endsWith('/corrupted_tmeta_with_metadata_snap.pack'));
  it.skipIf(skipReason(pack !== undefined, 'tpt-testdata/corrupted_tmeta_with_metadata_snap.pack missing'))(
    'everything lost but the metadata snapshot: refused, the snapshot named as the way back; taking it gives its devices',
    () => {
      mkdirSync(tmp.path('snaponly'), { recursive: true });
      const md = unpackTpt(must(pack, 'corrupted_tmeta_with_metadata_snap.pack'), tmp.path('snaponly'));
      const out = emptyFile(tmp.path('snaponly-out.meta'), readFileSync(md).length);
      const r = dmthin('repair', '-i', md, '-o', out);
      expect(r.code).toBe(1);
      const found = /--override-mapping-root (\d+) --override-details-root (\d+) \(thin ids [\d,]+; the held metadata snapshot at block \d+\)/.exec(r.stderr);
      expect(found, r.stderr).not.toBeNull();
      const m = must(found, 'the refusal naming the held snapshot');
      const again = dmthin('repair', '-q', '-i', md, '-o', out, '--override-mapping-root', m[1], '--override-details-root', m[2]);
      expect(again.code, again.stderr).toBe(0);
      const devices = (x: string): string[] => [...x.matchAll(/<device [^>]*>/g)].map((d) => d[0]);
      expect(devices(dumpOf(out))).toEqual(devices(dumpOf(md, '-m')));
      if (tpt11) expect(oracle('1.1', 'thin_check', ['-q', out]).code).toBe(0);
    },
  );
});

describe('repair of healthy metadata', () => {
  const healthy = tptPacks().filter((p) => !/corrupt|damaged/.test(p));
  it.skipIf(skipReason(healthy.length > 0, 'tpt-testdata missing: healthy packs for repair'))(
    'dump --repair equals dump, and repair rebuilds metadata that dumps the same',
    () => {
      for (const pack of healthy) {
        const md = unpackTpt(pack, tmp.dir);
        if (!check(md).ok) continue; // a pack that is damaged in other ways
        const d = dumpOf(md);
        expect(dumpOf(md, '--repair'), pack).toBe(d.replace(/ flags="\d+"/, ' flags="0"'));
        const out = emptyFile(tmp.path('healthy-out.meta'), readFileSync(md).length);
        const r = dmthin('repair', '-q', '-i', md, '-o', out);
        expect(r.code, `${pack}: ${r.stderr}`).toBe(0);
        expect(dumpOf(out), pack).toBe(d.replace(/ flags="\d+"/, ' flags="0"'));
        if (tpt09) expect(oracle('0.9', 'thin_check', [out]).code, pack).toBe(0);
        if (tpt11) expect(oracle('1.1', 'thin_check', [out]).code, pack).toBe(0);
      }
    },
  );
});

describe('repair writes safely', () => {
  it('refuses to write its input', () => {
    const orig = fixture('many-thins', tmp.dir);
    const before = readFileSync(orig);
    const r = dmthin('repair', '-i', orig, '-o', orig);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the output .* is an input/);
    expect(readFileSync(orig).equals(before)).toBe(true);
  });
  it('an output too small fails cleanly and leaves the output byte-identical', () => {
    const orig = fixture('snapshots', tmp.dir);
    const out = tmp.path('small.meta');
    copyFileSync(orig, out);
    truncateSync(out, 64 << 10); // a valid superblock at block 0, too few blocks for the trees
    const before = readFileSync(out);
    const r = dmthin('repair', '-i', orig, '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/too small/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('.dmthin'))).toEqual([]);
  });
  it('--json reports what was found for scripts', () => {
    const orig = fixture('snapshots', tmp.dir);
    const out = emptyFile(tmp.path('json.meta'), 16 << 20);
    const r = dmthin('repair', '--json', '-i', orig, '-o', out);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.stats.devices).toBe(4);
    expect(j.stats.holes).toBe(0);
    expect(j.header.transaction).toBe(9);
  });
});
