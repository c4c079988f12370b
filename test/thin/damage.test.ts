/**
 * Damaged metadata: check must fail (or warn, for leaks), name the block,
 * never throw; its verdict agrees with thin_check 0.9 where both judge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, truncateSync } from 'node:fs';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { bitmapEntry, setBitmapEntry } from '../../src/format/bitmap.js';
import { keyAt, parseNodeHeader, u64ValueAt } from '../../src/format/btree-node.js';
import { getU64 } from '../../src/format/le.js';
import { parseSuperblock } from '../../src/format/superblock.js';
import { check, type FindingCode } from '../../src/thin/check/check.js';
import { Metadata } from '../../src/thin/metadata.js';
import { restore } from '../../src/thin/restore/restore.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, oracle, scratch, tpt11 } from '../support/env.js';
import { patchBlock, readBlock } from '../support/damage.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
let pristine = '';
let leaf = 0; // a leaf of thin device 0
let internal = 0; // thin device 0's root, an internal node
let dataBitmap = 0;

/** The first entry of a bitmap with the given count. */
function firstEntry(bitmap: Uint8Array, count: number): number {
  for (let i = 0; i < 16320; i++) if (bitmapEntry(bitmap, i) === count) return i;
  throw new Error(`no entry with count ${count}`);
}

beforeAll(() => {
  const xml = tmp.path('pool.xml');
  const g = writePoolXml(xml, { seed: 9, origins: 2, snapshotsPerOrigin: 2, mappingsPerOrigin: 60000, rewriteShare: 0.1, runLength: 8, spareDataBlocks: 500 });
  pristine = emptyFile(tmp.path('pristine.meta'), metadataBytesFor(g.mappings));
  restore(xml, pristine);
  const md = Metadata.open(pristine);
  const dev0 = md.devices()[0];
  internal = must(dev0.mappingRoot, "thin 0's mapping root");
  const root = readBlock(pristine, internal);
  const h = parseNodeHeader(root);
  expect(h.flags).toBe(1);
  leaf = u64ValueAt(root, h.maxEntries, 1);
  const sb = parseSuperblock(readBlock(pristine, 0));
  // The data space map's index tree is one leaf here: entry 0 names bitmap 0.
  const idx = readBlock(pristine, sb.dataSpaceMapRoot.bitmapRoot);
  dataBitmap = getU64(idx, 32 + 8 * parseNodeHeader(idx).maxEntries);
  md.close();
});
afterAll(() => tmp.cleanup());

let n = 0;
function damaged(mut: (path: string) => void): string {
  const p = tmp.path(`damaged${n++}.meta`);
  copyFileSync(pristine, p);
  mut(p);
  return p;
}

/**
 * thin_check 1.1's verdict, when it is installed. 1.1, not 0.9: thin_check
 * 0.9 does not compare data block counts at all (it passes a mapped block
 * whose count on disk is 0), so it cannot judge space-map damage.
 */
function oracleVerdict(path: string): boolean | undefined {
  return tpt11 ? oracle('1.1', 'thin_check', ['-q', path]).code === 0 : undefined;
}

function expectFatalAt(path: string, block: number, pattern: RegExp, code: FindingCode): void {
  const r = check(path);
  expect(r.ok).toBe(false);
  const hit = r.findings.find((f) => f.severity === 'fatal' && f.block === block && pattern.test(f.message));
  expect(hit, JSON.stringify(r.findings.slice(0, 5), null, 1)).toBeDefined();
  expect(hit?.code).toBe(code);
  // Scripts get the same finding, code and block as fields.
  const json = JSON.parse(dmthin('check', '--json', path).stdout) as { findings: Array<{ code: string; block?: number }> };
  expect(json.findings).toContainEqual(expect.objectContaining({ code, block }));
  const o = oracleVerdict(path);
  if (o !== undefined) expect(o).toBe(false);
  const cli = dmthin('check', path);
  expect(cli.code).toBe(1);
  expect(cli.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(cli.stderr).toContain(`${block}`);
}

describe('check on damaged metadata', () => {
  it('the pristine pool is clean (the baseline the others damage)', () => {
    expect(check(pristine).findings).toEqual([]);
  });

  it('reports a flipped byte in a mapping leaf as a bad checksum at that block', () => {
    const p = damaged((f) => patchBlock(f, leaf, (d) => (d[1000] ^= 0x40)));
    expectFatalAt(p, leaf, /bad btree node checksum/, 'node-checksum');
  });

  it('reports a zeroed internal node at its block and names the device', () => {
    const p = damaged((f) => patchBlock(f, internal, (d) => d.fill(0)));
    expectFatalAt(p, internal, /checksum/, 'node-checksum');
    expect(check(p).findings.some((x) => x.device === 0)).toBe(true);
  });

  it('reports nr_entries > max_entries', () => {
    const p = damaged((f) => patchBlock(f, leaf, (_d, dv) => dv.setUint32(16, 300, true), 'btreeNode'));
    expectFatalAt(p, leaf, /nr_entries: 300 > max_entries 252/, 'node-header');
  });

  it('reports a wrong value_size', () => {
    const p = damaged((f) => patchBlock(f, leaf, (_d, dv) => dv.setUint32(24, 16, true), 'btreeNode'));
    expectFatalAt(p, leaf, /value_size/, 'node-value-size');
  });

  it('reports keys out of order', () => {
    const p = damaged((f) =>
      patchBlock(
        f,
        leaf,
        (d, dv) => {
          const k = keyAt(d, 5);
          dv.setUint32(32 + 8 * 6, k, true);
          dv.setUint32(32 + 8 * 6 + 4, 0, true);
        },
        'btreeNode',
      ),
    );
    expectFatalAt(p, leaf, /keys out of order/, 'keys-out-of-order');
  });

  it('reports a child pointer past the end of the metadata', () => {
    const p = damaged((f) => patchBlock(f, internal, (d, dv) => dv.setUint32(32 + 8 * parseNodeHeader(d).maxEntries + 8, 0x7fffffff, true), 'btreeNode'));
    expectFatalAt(p, 0x7fffffff, /past the end/, 'node-pointer-past-end');
  });

  it('reports a cycle (a node pointing at its own ancestor) without hanging', () => {
    const p = damaged((f) => patchBlock(f, internal, (d, dv) => dv.setUint32(32 + 8 * parseNodeHeader(d).maxEntries + 8, internal, true), 'btreeNode'));
    const r = check(p);
    expect(r.ok).toBe(false);
    expect(r.findings).toContainEqual(expect.objectContaining({ code: 'node-cycle', block: internal, device: 0 }));
    if (tpt11) expect(oracleVerdict(p)).toBe(false);
  });

  it('reports a bad bitmap checksum at the bitmap block', () => {
    const p = damaged((f) => patchBlock(f, dataBitmap, (d) => (d[2000] ^= 1)));
    expectFatalAt(p, dataBitmap, /bad bitmap checksum/, 'bitmap');
  });

  it('reports a bad superblock checksum at block 0', () => {
    const p = damaged((f) => patchBlock(f, 0, (d) => (d[200] ^= 1)));
    expectFatalAt(p, 0, /bad superblock checksum/, 'superblock');
  });

  it('reports a data block counted twice on disk but once in the trees as fatal', () => {
    const once = firstEntry(readBlock(pristine, dataBitmap), 1);
    const p = damaged((f) => patchBlock(f, dataBitmap, (d) => setBitmapEntry(d, once, 2), 'bitmap'));
    const r = check(p);
    expect(r.ok).toBe(false);
    expect(r.findings).toContainEqual(
      expect.objectContaining({ code: 'ref-count-mismatch', message: `data block ${once}: reference count on disk 2, computed 1` }),
    );
    if (tpt11) expect(oracleVerdict(p)).toBe(false);
  });

  it('reports a leaked data block as non-fatal; --ignore-non-fatal-errors then exits 0', () => {
    const free = firstEntry(readBlock(pristine, dataBitmap), 0);
    const p = damaged((f) => patchBlock(f, dataBitmap, (d) => setBitmapEntry(d, free, 1), 'bitmap'));
    const r = check(p);
    expect(r.ok).toBe(true);
    expect(r.leakedDataBlocks).toBe(1);
    expect(r.findings).toEqual([
      expect.objectContaining({ severity: 'non-fatal', code: 'leaked-blocks', message: expect.stringMatching(/1 data blocks have leaked/) }),
    ]);
    expect(dmthin('check', p).code).toBe(1);
    expect(dmthin('check', '--ignore-non-fatal-errors', p).code).toBe(0);
    if (tpt11) {
      expect(oracle('1.1', 'thin_check', ['-q', p]).code).not.toBe(0);
      expect(oracle('1.1', 'thin_check', ['-q', '--ignore-non-fatal-errors', p]).code).toBe(0);
    }
  });

  it('survives a truncated file and an empty one without throwing', () => {
    const p = damaged((f) => truncateSync(f, 40960));
    const r = check(p);
    expect(r.ok).toBe(false);
    expect(r.findings.length).toBeGreaterThan(0);
    const e = damaged((f) => truncateSync(f, 0));
    expect(check(e).findings[0].message).toMatch(/empty/);
  });

  it('--super-block-only passes a pool whose trees are damaged', () => {
    const p = damaged((f) => patchBlock(f, leaf, (d) => d.fill(0)));
    expect(dmthin('check', '--super-block-only', p).code).toBe(0);
    expect(dmthin('check', p).code).toBe(1);
  });
});
