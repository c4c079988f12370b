/**
 * thin_check's other options: -m, the root overrides, --auto-repair and
 * --clear-needs-check-flag (the only writes a check makes), their
 * conflicts, and dmthin as an LVM drop-in through a thin_check symlink.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, symlinkSync } from 'node:fs';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { bitmapEntry, setBitmapEntry } from '../../src/format/bitmap.js';
import { parseNodeHeader } from '../../src/format/btree-node.js';
import { getU64 } from '../../src/format/le.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { check } from '../../src/thin/check/check.js';
import { restore } from '../../src/thin/restore/restore.js';
import { cliPath, dmthin } from '../support/cli.js';
import { emptyFile, oracle, runTool, scratch, tpt09, tpt11 } from '../support/env.js';
import { patchBlock, readBlock } from '../support/damage.js';
import { unpackKernelFixture } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
let pool = '';
let n = 0;
const copy = (): string => {
  const p = tmp.path(`c${n++}.meta`);
  copyFileSync(pool, p);
  return p;
};

beforeAll(() => {
  const xml = tmp.path('p.xml');
  const g = writePoolXml(xml, { seed: 31, origins: 2, snapshotsPerOrigin: 1, mappingsPerOrigin: 20000, rewriteShare: 0.2, runLength: 4, spareDataBlocks: 300 });
  pool = emptyFile(tmp.path('p.meta'), metadataBytesFor(g.mappings));
  restore(xml, pool);
});

/** Leaks `count` free data blocks and `metaCount` free metadata blocks (bitmap entries 0 -> 1). */
function leak(path: string, count: number, metaCount: number): void {
  const sb = parseSuperblock(readBlock(path, 0));
  const idx = readBlock(path, sb.dataSpaceMapRoot.bitmapRoot);
  const dataBitmap = getU64(idx, 32 + 8 * parseNodeHeader(idx).maxEntries);
  const metaIndex = readBlock(path, sb.metadataSpaceMapRoot.bitmapRoot);
  const metaBitmap = getU64(metaIndex, 16);
  for (const [bm, k, limit] of [
    [dataBitmap, count, sb.dataSpaceMapRoot.nrBlocks],
    [metaBitmap, metaCount, sb.metadataSpaceMapRoot.nrBlocks],
  ] as const) {
    patchBlock(
      path,
      bm,
      (d) => {
        let left = k;
        for (let i = Math.min(limit, 16320) - 1; i >= 0 && left > 0; i--) {
          if (bitmapEntry(d, i) === 0) {
            setBitmapEntry(d, i, 1);
            left--;
          }
        }
      },
      'bitmap',
    );
  }
}

describe('check --auto-repair and --clear-needs-check-flag', () => {
  it('--auto-repair gives back leaked data and metadata blocks; both thin_checks then pass', () => {
    const p = copy();
    leak(p, 5, 3);
    const before = check(p);
    expect([before.ok, before.leakedDataBlocks, before.leakedMetadataBlocks]).toEqual([true, 5, 3]);
    const r = dmthin('check', '--auto-repair', p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/gave back 5 leaked data blocks and 3 leaked metadata blocks/);
    expect(check(p).findings).toEqual([]);
    if (tpt11) expect(oracle('1.1', 'thin_check', [p]).code).toBe(0);
    if (tpt09) expect(oracle('0.9', 'thin_check', [p]).code).toBe(0);
  });

  it('--auto-repair repairs nothing when there are fatal errors', () => {
    const p = copy();
    leak(p, 2, 0);
    patchBlock(p, 5, (b) => (b[300] ^= 1));
    const r = dmthin('check', '--auto-repair', p);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/gave back/);
  });

  it('--clear-needs-check-flag clears the flag after a clean check, and only then', () => {
    const p = copy();
    patchBlock(p, 0, (_b, dv) => dv.setUint32(4, 1, true), 'superblock');
    expect(check(p).needsCheck).toBe(true);
    const r = dmthin('check', '-q', '--clear-needs-check-flag', p);
    expect(r.code).toBe(0);
    expect(check(p).needsCheck).toBe(false);
    const bad = copy();
    patchBlock(bad, 0, (_b, dv) => dv.setUint32(4, 1, true), 'superblock');
    patchBlock(bad, 5, (b) => (b[300] ^= 1));
    expect(dmthin('check', '-q', '--clear-needs-check-flag', bad).code).toBe(1);
    expect(check(bad).needsCheck).toBe(true);
  });

  it('--auto-repair clears NEEDS_CHECK after a clean check, as thin_check 1.1 does; plain check names the flag and the way to clear it', () => {
    const flagged = (): string => {
      const p = copy();
      patchBlock(p, 0, (_b, dv) => dv.setUint32(4, 1, true), 'superblock');
      return p;
    };
    const plain = flagged();
    const r0 = dmthin('check', plain);
    expect(r0.code).toBe(0);
    expect(r0.stderr).toMatch(/NEEDS_CHECK flag is set/);
    expect(r0.stderr).toContain(`dmthin check --clear-needs-check-flag ${plain} clears it`);
    expect(check(plain).needsCheck).toBe(true);
    const ours = flagged();
    expect(dmthin('check', '--auto-repair', ours).code).toBe(0);
    expect(check(ours).needsCheck).toBe(false);
    if (tpt11) {
      const theirs = flagged();
      expect(oracle('1.1', 'thin_check', ['--auto-repair', theirs]).code).toBe(0);
      expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
    }
    const j = flagged();
    const out = JSON.parse(dmthin('check', '--json', '--clear-needs-check-flag', j).stdout);
    expect([out.needs_check, out.cleared_needs_check, check(j).needsCheck]).toEqual([true, true, false]);
  });

  it('refuses to write with -m or an override root, as thin_check does', () => {
    const r = dmthin('check', '--auto-repair', '-m', pool);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot perform repair outside the actual metadata/);
    expect(dmthin('check', '--clear-needs-check-flag', '--override-mapping-root', '5', pool).stderr).toMatch(/cannot perform repair/);
  });
});

describe('check -m and root overrides', () => {
  it('-m checks the held metadata snapshot; without one it fails clearly', () => {
    const k = unpackKernelFixture(tmp.dir);
    expect(dmthin('check', '-q', '-m', k).code).toBe(0);
    const none = dmthin('check', '-m', pool);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no current metadata snapshot/);
    if (tpt11) expect(oracle('1.1', 'thin_check', ['-q', '-m', pool]).code).not.toBe(0);
  });

  it('--override-mapping-root and --override-details-root check the trees given', () => {
    const sb = parseSuperblock(readBlock(pool, 0));
    expect(dmthin('check', '-q', '--override-mapping-root', String(sb.mappingRoot), '--override-details-root', String(sb.detailsRoot), pool).code).toBe(0);
    const wrong = dmthin('check', '--override-details-root', String(sb.mappingRoot), pool);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/value_size/);
  });
});

describe('LVM drop-in', () => {
  it('behaves as thin_check, thin_dump and thin_ls when invoked through symlinks of those names', () => {
    for (const name of ['thin_check', 'thin_dump', 'thin_ls']) symlinkSync(cliPath, tmp.path(name));
    const c = runTool(process.execPath, [tmp.path('thin_check'), '-q', '--clear-needs-check-flag', pool]);
    expect(c).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const d = runTool(process.execPath, [tmp.path('thin_dump'), pool]);
    expect(d.stdout).toBe(dmthin('dump', pool).stdout);
    if (tpt09) expect(runTool(process.execPath, [tmp.path('thin_ls'), pool]).stdout).toBe(oracle('0.9', 'thin_ls', [pool]).stdout);
    if (tpt09)
      expect(runTool(process.execPath, [tmp.path('thin_ls'), '-o', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS', pool]).stdout).toBe(
        oracle('0.9', 'thin_ls', ['-o', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS', pool]).stdout,
      );
    const bad = copy();
    patchBlock(bad, 0, (b) => (b[99] ^= 1));
    expect(runTool(process.execPath, [tmp.path('thin_check'), '-q', bad]).code).toBe(1);
  });

  it('every thin_* name dmthin covers runs as that program and names itself in usage and errors', () => {
    for (const name of [
      'thin_restore',
      'thin_repair',
      'thin_delta',
      'thin_rmap',
      'thin_metadata_size',
      'thin_trim',
      'thin_metadata_pack',
      'thin_metadata_unpack',
    ]) {
      symlinkSync(cliPath, tmp.path(name));
      const help = runTool(process.execPath, [tmp.path(name), '--help']);
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toMatch(new RegExp(`^Usage: ${name} `));
      const bad = runTool(process.execPath, [tmp.path(name), '--no-such-option']);
      expect(bad.code, name).toBe(2);
      expect(bad.stderr, name).toMatch(new RegExp(`^${name}: (unknown option '--no-such-option'|required option)`));
    }
    // thin_metadata_pack and unpack round-trip; thin_trim takes thin_trim's option names.
    const packed = tmp.path('dropin.pack');
    const unpacked = tmp.path('dropin.meta');
    expect(runTool(process.execPath, [tmp.path('thin_metadata_pack'), '-i', pool, '-o', packed]).code).toBe(0);
    expect(runTool(process.execPath, [tmp.path('thin_metadata_unpack'), '-i', packed, '-o', unpacked]).code).toBe(0);
    expect(dmthin('dump', unpacked).stdout).toBe(dmthin('dump', pool).stdout);
    const trim = runTool(process.execPath, [tmp.path('thin_trim'), '--metadata-dev', pool, '--data-dev', tmp.dir, '--pool-inactive']);
    expect(trim.code).toBe(1);
    expect(trim.stderr).toMatch(/^thin_trim: data .* is a directory/);
  });
});
