/**
 * Both directions against the oracles on generated pools:
 * thin_restore -> dmthin check/dump, and dmthin restore -> thin_check and
 * thin_dump of 0.9 and 1.1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { metadataBytesFor, writePoolXml, type PoolSpec } from '../bench/pool-generator.js';
import { check } from '../../src/thin/check/check.js';
import { restore } from '../../src/thin/restore/restore.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, oracle, scratch, skipReason, tpt09, tpt11 } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const shapes: Array<[string, PoolSpec]> = [
  ['one empty-ish origin', { seed: 1, origins: 1, snapshotsPerOrigin: 0, mappingsPerOrigin: 1, rewriteShare: 0, runLength: 1 }],
  [
    'an origin with a chain of snapshots (counts >= 3)',
    { seed: 2, origins: 1, snapshotsPerOrigin: 5, mappingsPerOrigin: 3000, rewriteShare: 0.2, runLength: 20 },
  ],
  [
    'several families, fragmented, multi-level trees',
    { seed: 3, origins: 3, snapshotsPerOrigin: 2, mappingsPerOrigin: 70000, rewriteShare: 0.1, runLength: 4, dataBlockSize: 256 },
  ],
  ['exactly one full leaf plus one entry', { seed: 4, origins: 1, snapshotsPerOrigin: 0, mappingsPerOrigin: 253, rewriteShare: 0, runLength: 1 }],
];

function generated(name: string, spec: PoolSpec): { xml: string; mappings: number } {
  const xml = tmp.path(`${name}.xml`);
  const r = writePoolXml(xml, spec);
  return { xml, mappings: r.mappings };
}

describe.skipIf(skipReason(!!tpt09 && !!tpt11, 'thin-provisioning-tools 0.9 and 1.1 needed for round trips against the oracles'))(
  'round trips with the oracles',
  () => {
    shapes.forEach(([label, spec], i) => {
      it(`dmthin restore of ${label} passes thin_check 0.9 and 1.1 and dumps back identically`, () => {
        const { xml, mappings } = generated(`ours${i}`, spec);
        const meta = emptyFile(tmp.path(`ours${i}.meta`), metadataBytesFor(mappings));
        const r = restore(xml, meta);
        expect(r.nrMappings).toBe(mappings);
        for (const v of ['0.9', '1.1'] as const) {
          const c = oracle(v, 'thin_check', [meta]);
          expect(c.code, `thin_check ${v}: ${c.stderr}`).toBe(0);
        }
        const text = readFileSync(xml, 'utf8');
        expect(oracle('0.9', 'thin_dump', [meta]).stdout).toBe(text);
        // 1.1 omits flags="0" and the final newline; otherwise the same.
        expect(oracle('1.1', 'thin_dump', [meta]).stdout).toBe(text.replace(' flags="0"', '').trimEnd());
      });

      it(`thin_restore of ${label} checks clean in dmthin and dumps identically`, () => {
        const { xml, mappings } = generated(`theirs${i}`, spec);
        const meta = emptyFile(tmp.path(`theirs${i}.meta`), metadataBytesFor(mappings));
        const t = oracle('0.9', 'thin_restore', ['-i', xml, '-o', meta]);
        expect(t.code, t.stderr).toBe(0);
        const c = check(meta);
        expect(c.findings).toEqual([]);
        expect(c.nrMappings).toBe(mappings);
        const d = dmthin('dump', meta);
        expect(d.stdout).toBe(readFileSync(xml, 'utf8'));
      });
    });

    it('thin_restore 1.1 output (different layout) checks clean and dumps identically', () => {
      const { xml, mappings } = generated('t11', shapes[2][1]);
      const meta = emptyFile(tmp.path('t11.meta'), metadataBytesFor(mappings));
      expect(oracle('1.1', 'thin_restore', ['-i', xml, '-o', meta]).code).toBe(0);
      expect(check(meta).findings).toEqual([]);
      expect(dmthin('dump', meta).stdout).toBe(readFileSync(xml, 'utf8'));
    });

    it('random pools: dmthin restore is accepted by thin_check 0.9 and dumps back (property)', () => {
      let n = 0;
      fc.assert(
        fc.property(
          fc.record({
            seed: fc.integer({ min: 0, max: 1e9 }),
            origins: fc.integer({ min: 1, max: 3 }),
            snapshotsPerOrigin: fc.integer({ min: 0, max: 4 }),
            mappingsPerOrigin: fc.integer({ min: 0, max: 2000 }),
            rewriteShare: fc.double({ min: 0, max: 1, noNaN: true }),
            runLength: fc.integer({ min: 1, max: 40 }),
          }),
          (spec) => {
            const { xml, mappings } = generated(`prop${n}`, spec);
            const meta = emptyFile(tmp.path(`prop${n++}.meta`), metadataBytesFor(mappings));
            restore(xml, meta);
            const c = oracle('0.9', 'thin_check', ['-q', meta]);
            expect(c.code).toBe(0);
            expect(check(meta).ok).toBe(true);
            expect(oracle('0.9', 'thin_dump', [meta]).stdout).toBe(readFileSync(xml, 'utf8'));
          },
        ),
        { numRuns: 25 },
      );
    });
  },
);

describe('restore on its own', () => {
  it('reads the <def>/<ref> shared-subtree form', () => {
    const xml = tmp.path('defs.xml');
    const plain = tmp.path('plain.xml');
    const body = '    <range_mapping origin_begin="0" data_begin="10" length="3" time="0"/>\n    <single_mapping origin_block="7" data_block="20" time="1"/>\n';
    const head = '<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="1000">\n';
    const dev = (id: number, inner: string): string =>
      `  <device dev_id="${id}" mapped_blocks="4" transaction="0" creation_time="0" snap_time="1">\n${inner}  </device>\n`;
    writeFileSync(
      xml,
      `${head}  <def name="shared">\n${body}  </def>\n${dev(0, '    <ref name="shared"/>\n')}${dev(1, '    <ref name="shared"/>\n')}</superblock>\n`,
    );
    writeFileSync(plain, `${head}${dev(0, body)}${dev(1, body)}</superblock>\n`);
    const meta = emptyFile(tmp.path('defs.meta'), 1 << 20);
    restore(xml, meta);
    expect(check(meta).ok).toBe(true);
    expect(dmthin('dump', meta).stdout).toBe(readFileSync(plain, 'utf8'));
  });

  it('refuses an output too small, naming its size, and writes nothing to it', () => {
    const { xml } = generated('small', shapes[2][1]);
    const meta = emptyFile(tmp.path('small.meta'), 64 << 10);
    writeFileSync(meta, Buffer.alloc(64 << 10, 0xa5)); // old contents that must survive
    expect(() => restore(xml, meta)).toThrow(/small\.meta is too small for nr_data_blocks \d+: .* the output holds 16 metadata blocks/);
    expect(readFileSync(meta).equals(Buffer.alloc(64 << 10, 0xa5))).toBe(true);
  });

  it('names the line of bad XML', () => {
    const xml = tmp.path('bad.xml');
    writeFileSync(
      xml,
      '<superblock uuid="" time="0" transaction="0" flags="0" version="2" data_block_size="128" nr_data_blocks="10">\n  <device dev_id="1" mapped_blocks="1" transaction="0" creation_time="0" snap_time="0">\n    <single_mapping origin_block="0" data_block="12" time="0"/>\n  </device>\n</superblock>\n',
    );
    const meta = emptyFile(tmp.path('bad.meta'), 1 << 20);
    expect(() => restore(xml, meta)).toThrow(/bad\.xml:3: thin device 1: data blocks 12\.\.12 are past the end/);
  });
});
