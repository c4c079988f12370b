/**
 * thin-provisioning-tools' tests/thin_repair.rs and the --repair and
 * override cases of tests/thin_dump.rs, behaviour by behaviour, against
 * `dmthin repair` and `dmthin dump --repair`. Their "valid metadata" is one
 * thin device (id 0) with 1024 mappings from data block 0, 128-sector
 * blocks, 20480 data blocks, transaction 1; ours is written the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dmthin, cliPath } from '../support/cli.js';
import { emptyFile, oracle, runTool, scratch, skipReason, tpt09, tpt11 } from '../support/env.js';
import { tptPacks, unpackTpt } from '../support/fixtures.js';
import { patchBlock, readBlock, writeBlock } from '../support/damage.js';
import { Metadata } from '../../src/thin/metadata.js';
import { copyOf } from './peer-support.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const SINGLE_THIN_XML = `<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="20480">
  <device dev_id="0" mapped_blocks="1024" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="0" data_begin="0" length="1024" time="0"/>
  </device>
</superblock>
`;

let n = 0;
/** mk_valid_md: the single-thin pool in a 16 MiB file. */
function validMd(): string {
  const xml = tmp.path(`valid${n}.xml`);
  writeFileSync(xml, SINGLE_THIN_XML);
  const md = emptyFile(tmp.path(`valid${n++}.meta`), 4096 * 4096);
  expect(dmthin('restore', '-q', '-i', xml, '-o', md).code).toBe(0);
  return md;
}
function zeroedMd(): string {
  return emptyFile(tmp.path(`zeroed${n++}.meta`), 4096 * 4096);
}
/** damage_superblock: zeroes its first 512 bytes. */
function damageSuperblock(md: string): void {
  const b = readBlock(md, 0);
  b.fill(0, 0, 512);
  writeBlock(md, 0, b);
}
/** thin_generate_damage --override --mapping-root 10: a stale root under a valid checksum. */
function staleMappingRoot(md: string): void {
  patchBlock(md, 0, (_b, dv) => dv.setBigUint64(320, 10n, true), 'superblock');
}
function dump(md: string, ...args: string[]): string {
  const r = dmthin('dump', ...args, md);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('thin_repair peer behaviours', () => {
  let valid = '';
  beforeAll(() => {
    valid = validMd();
  });

  it('accepts_help, accepts_version, rejects_bad_option', () => {
    const h = dmthin('repair', '--help');
    expect(h.code).toBe(0);
    for (const opt of ['--input', '--output', '--transaction-id', '--data-block-size', '--nr-data-blocks', '--quiet']) expect(h.stdout).toContain(opt);
    expect(dmthin('--version').code).toBe(0);
    expect(dmthin('repair', '--bogus', '-i', valid, '-o', zeroedMd()).code).toBe(2);
  });
  it('input_file_not_found, input_cannot_be_a_directory, missing_input_arg, missing_output_option', () => {
    const out = zeroedMd();
    const r = dmthin('repair', '-i', tmp.path('nope'), '-o', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope/);
    mkdirSync(tmp.path('dir'), { recursive: true });
    expect(dmthin('repair', '-i', tmp.path('dir'), '-o', out).code).toBe(1);
    expect(dmthin('repair', '-o', out).code).toBe(2);
    expect(dmthin('repair', '-i', valid).code).toBe(2);
  });
  it('corrupted_input_data: no compatible roots found', () => {
    const junk = emptyFile(tmp.path('junk.meta'), 1 << 20);
    writeFileSync(junk, Buffer.alloc(1 << 20, 0x5a));
    const r = dmthin('repair', '-i', junk, '-o', zeroedMd(), '--data-block-size', '128');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no compatible roots found');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('readonly_input_file, and the input is never modified', () => {
    const ro = copyOf(valid, tmp.path('ro.meta'));
    damageSuperblock(ro);
    chmodSync(ro, 0o444);
    const before = readFileSync(ro);
    expect(dmthin('repair', '-q', '-i', ro, '-o', zeroedMd(), '--data-block-size', '128').code).toBe(0);
    expect(readFileSync(ro).equals(before)).toBe(true);
  });
  it('accepts_empty_argument', () => {
    expect(dmthin('repair', '-q', '-i', valid, '-o', zeroedMd(), '').code).not.toBe(2);
  });
  it('dont_repair_xml', () => {
    const xml = tmp.path('in.xml');
    writeFileSync(xml, SINGLE_THIN_XML + ' '.repeat(8192));
    const r = dmthin('repair', '-i', xml, '-o', zeroedMd(), '--data-block-size', '128');
    expect(r.code).toBe(1);
  });
  it('override_transaction_id, override_data_block_size, override_nr_data_blocks', () => {
    for (const [flag, val, pattern] of [
      ['--transaction-id', '2345', 'transaction="2345"'],
      ['--data-block-size', '8192', 'data_block_size="8192"'],
      ['--nr-data-blocks', '234500', 'nr_data_blocks="234500"'],
    ] as const) {
      const out = zeroedMd();
      expect(dmthin('repair', '-q', flag, val, '-i', valid, '-o', out).code).toBe(0);
      expect(dump(out)).toContain(pattern);
    }
  });
  it('superblock_succeeds: a zeroed superblock with the three fields given restores the same dump', () => {
    const md = copyOf(valid, tmp.path('sb.meta'));
    const original = dump(md);
    damageSuperblock(md);
    const out = zeroedMd();
    expect(dmthin('repair', '-q', '--transaction-id=1', '--data-block-size=128', '--nr-data-blocks=20480', '-i', md, '-o', out).code).toBe(0);
    expect(dump(out)).toBe(original);
  });
  it('missing_data_block_size', () => {
    const md = copyOf(valid, tmp.path('nodbs.meta'));
    damageSuperblock(md);
    const r = dmthin('repair', '--transaction-id=1', '--nr-data-blocks=20480', '-i', md, '-o', zeroedMd());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data block size');
  });
  it('recovers_transaction_id, recovers_nr_data_blocks, recovers_tid_and_nr_data_blocks from a damaged superblock', () => {
    const md = copyOf(valid, tmp.path('rec.meta'));
    damageSuperblock(md);
    const cases: Array<[string[], string[]]> = [
      [
        ['--data-block-size=128', '--nr-data-blocks=20480'],
        ['transaction="1"', 'data_block_size="128"', 'nr_data_blocks="20480"'],
      ],
      [
        ['--transaction-id=10', '--data-block-size=128'],
        ['transaction="10"', 'data_block_size="128"', 'nr_data_blocks="1024"'],
      ],
      [['--data-block-size=128'], ['transaction="1"', 'data_block_size="128"', 'nr_data_blocks="1024"']],
    ];
    for (const [args, patterns] of cases) {
      const out = zeroedMd();
      expect(dmthin('repair', '-q', ...args, '-i', md, '-o', out).code).toBe(0);
      const d = dump(out);
      for (const p of patterns) expect(d, args.join(' ')).toContain(p);
    }
  });
  it('repair_metadata_with_stale_superblock', () => {
    const md = copyOf(valid, tmp.path('stale.meta'));
    const before = dump(md);
    staleMappingRoot(md);
    const out = zeroedMd();
    expect(dmthin('repair', '-q', '-i', md, '-o', out).code).toBe(0);
    expect(dump(out)).toBe(before);
  });
  it('preserve_timestamp_of_stale_superblock', () => {
    const xml = tmp.path('ts.xml');
    const before = `<superblock uuid="" time="2" transaction="3" flags="0" version="2" data_block_size="128" nr_data_blocks="16384">
  <device dev_id="1" mapped_blocks="0" transaction="0" creation_time="0" snap_time="1">
  </device>
</superblock>
`;
    writeFileSync(xml, before);
    const md = zeroedMd();
    expect(dmthin('restore', '-q', '-i', xml, '-o', md).code).toBe(0);
    staleMappingRoot(md);
    const out = zeroedMd();
    expect(dmthin('repair', '-q', '-i', md, '-o', out).code).toBe(0);
    expect(dump(out, '--repair')).toBe(before);
  });
  it.skipIf(
    skipReason(
      tptPacks().some((p) => p.endsWith('/tmeta.pack')),
      'tpt-testdata/tmeta.pack missing: repair_device_details_tree needs it',
    ),
  )('repair_device_details_tree', () => {
    mkdirSync(tmp.path('details'), { recursive: true });
    const orig = unpackTpt(
      must(
        tptPacks().find((p) => p.endsWith('/tmeta.pack')),
        'tmeta.pack',
      ),
      tmp.path('details'),
    );
    const md = Metadata.open(orig);
    const origSb = md.superblock;
    const origThins = md.devices();
    md.close();
    for (const b of [1, 2, 20]) patchBlock(orig, b, (d) => d.fill(0, 0, 8));
    const out = emptyFile(tmp.path('details.meta'), 4096 * 4096 * 2);
    const r = dmthin('repair', '-i', orig, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    const rep = Metadata.open(out);
    try {
      expect(rep.superblock.dataSpaceMapRoot.nrAllocated).toBe(origSb.dataSpaceMapRoot.nrAllocated);
      const thins = rep.devices();
      expect(thins.map((t) => [t.devId, t.mappedBlocks])).toEqual(origThins.map((t) => [t.devId, t.mappedBlocks]));
      const expectedTs = Math.max(origSb.time, Math.max(0, ...origThins.map((t) => t.snapshottedTime)) + 1);
      expect(rep.superblock.time).toBe(expectedTs);
      for (const t of thins) expect(t.snapshottedTime).toBe(expectedTs);
    } finally {
      rep.close();
    }
  });
});

describe('thin_dump --repair peer behaviours', () => {
  let valid = '';
  beforeAll(() => {
    valid = validMd();
  });
  it('override_transaction_id, override_data_block_size, override_nr_data_blocks (no stderr)', () => {
    for (const [flag, val, pattern] of [
      ['--transaction-id', '2345', 'transaction="2345"'],
      ['--data-block-size', '8192', 'data_block_size="8192"'],
      ['--nr-data-blocks', '234500', 'nr_data_blocks="234500"'],
    ] as const) {
      const r = dmthin('dump', valid, flag, val);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(pattern);
    }
  });
  it('repair_superblock', () => {
    const md = copyOf(valid, tmp.path('dsb.meta'));
    const before = dump(md);
    damageSuperblock(md);
    expect(dump(md, '--repair', '--transaction-id=1', '--data-block-size=128', '--nr-data-blocks=20480')).toBe(before);
  });
  it.skipIf(
    skipReason(
      tptPacks().some((p) => p.endsWith('/tmeta.pack')),
      'tpt-testdata/tmeta.pack missing',
    ),
  )('repair_healthy_metadata', () => {
    mkdirSync(tmp.path('healthy'), { recursive: true });
    const md = unpackTpt(
      must(
        tptPacks().find((p) => p.endsWith('/tmeta.pack')),
        'tmeta.pack',
      ),
      tmp.path('healthy'),
    );
    const r = dmthin('dump', '--repair', md);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(dump(md));
  });
  it.skipIf(
    skipReason(
      tptPacks().some((p) => p.endsWith('/tmeta_with_empty_roots.pack')),
      'tpt-testdata/tmeta_with_empty_roots.pack missing',
    ),
  )('repair_metadata_with_empty_roots', () => {
    const md = unpackTpt(
      must(
        tptPacks().find((p) => p.endsWith('/tmeta_with_empty_roots.pack')),
        'tmeta_with_empty_roots.pack',
      ),
      tmp.dir,
    );
    const before = dump(md);
    damageSuperblock(md);
    expect(dump(md, '--repair', '--transaction-id=2', '--data-block-size=128', '--nr-data-blocks=1024')).toBe(before);
  });
  it('recovers_transaction_id, missing_data_block_size, recovers_nr_data_blocks, recovers_tid_and_nr_data_blocks', () => {
    const md = copyOf(valid, tmp.path('drec.meta'));
    damageSuperblock(md);
    let d = dump(md, '--repair', '--data-block-size=128', '--nr-data-blocks=20480');
    for (const p of ['transaction="1"', 'data_block_size="128"', 'nr_data_blocks="20480"']) expect(d).toContain(p);
    const r = dmthin('dump', '--repair', '--transaction-id=1', '--nr-data-blocks=20480', md);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data block size');
    d = dump(md, '--repair', '--transaction-id=10', '--data-block-size=128');
    for (const p of ['transaction="10"', 'nr_data_blocks="1024"']) expect(d).toContain(p);
    d = dump(md, '--repair', '--data-block-size=128');
    for (const p of ['transaction="1"', 'nr_data_blocks="1024"']) expect(d).toContain(p);
  });
  it('repair_metadata_with_stale_superblock', () => {
    const md = copyOf(valid, tmp.path('dstale.meta'));
    const before = dump(md);
    staleMappingRoot(md);
    expect(dump(md, '--repair')).toBe(before);
  });
});

describe('thin_repair drop-in', () => {
  it('invoked as thin_repair, behaves as `dmthin repair` (LVM runs `thin_repair -i IN -o OUT`)', () => {
    const link = tmp.path('bin/thin_repair');
    mkdirSync(tmp.path('bin'), { recursive: true });
    symlinkSync(cliPath, link);
    const md = validMd();
    damageSuperblock(md);
    const out = zeroedMd();
    const r = runTool(process.execPath, [link, '-i', md, '-o', out, '--data-block-size', '128']);
    expect(r.code, r.stderr).toBe(0);
    expect(dump(out)).toContain('<range_mapping origin_begin="0" data_begin="0" length="1024" time="0"/>');
    expect(runTool(process.execPath, [link, '-V']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('repair output against the oracles', () => {
  it.skipIf(skipReason(Boolean(tpt09 && tpt11), 'thin-provisioning-tools 0.9 and 1.1 both needed'))(
    'passes thin_check 0.9 and 1.1; their thin_dump reads it as ours does',
    () => {
      const md = validMd();
      damageSuperblock(md);
      const out = zeroedMd();
      expect(dmthin('repair', '-q', '--data-block-size', '128', '-i', md, '-o', out).code).toBe(0);
      expect(oracle('0.9', 'thin_check', [out]).code).toBe(0);
      expect(oracle('1.1', 'thin_check', [out]).code).toBe(0);
      expect(oracle('0.9', 'thin_dump', [out]).stdout).toBe(dump(out));
    },
  );
});
