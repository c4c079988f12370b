/** thin-provisioning-tools' tests/thin_check.rs, behaviour by behaviour, for dmthin check. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { check } from '../../src/thin/check/check.js';
import { dmthin } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { unpackKernelFixture } from '../support/fixtures.js';
import { copyOf, corruptSuperblock, leakMetadata, makePool, overcountMetadata, setNeedsCheck } from './peer-support.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
let meta = '';
let xml = '';
let n = 0;
const fresh = (): string => copyOf(meta, tmp.path(`c${n++}.meta`));
beforeAll(() => ({ meta, xml } = makePool(tmp.dir)));

describe('thin_check peer behaviours', () => {
  it('accepts_help, accepts_version', () => {
    expect(dmthin('check', '--help')).toMatchObject({ code: 0 });
    expect(dmthin('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
  it('rejects_bad_option, missing_input_arg', () => {
    expect(dmthin('check', '--no-such-option', meta).code).toBe(2);
    expect(dmthin('check').code).toBe(2);
  });
  it('input_file_not_found, input_cannot_be_a_directory', () => {
    expect(dmthin('check', tmp.path('nope')).stderr).toMatch(/cannot read metadata .*nope: no such file/);
    mkdirSync(tmp.path('dir'), { recursive: true });
    const r = dmthin('check', tmp.path('dir'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dir is a directory: give a regular file or a block device/);
  });
  it('help_message_for_tiny_input_file', () => {
    writeFileSync(tmp.path('tiny'), Buffer.alloc(100));
    // A file too small to be metadata is named so, with no repair advice (a repair has nothing to work from).
    const r = dmthin('check', tmp.path('tiny'));
    expect(r).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/tiny is 100 bytes, less than one 4096-byte metadata block: no superblock at block 0, so it is not pool metadata/),
    });
    expect(r.stderr).not.toMatch(/dmthin repair/);
    writeFileSync(tmp.path('empty'), Buffer.alloc(0));
    expect(dmthin('check', tmp.path('empty')).stderr).toMatch(/empty is empty: no superblock/);
  });
  it('spot_xml_data', () => {
    expect(dmthin('check', xml).stderr).toMatch(/looks like XML from thin_dump/);
  });
  it('corrupted_input_data', () => {
    const p = fresh();
    corruptSuperblock(p);
    expect(dmthin('check', p).code).toBe(1);
  });
  it('readonly_input_file: checking never needs write access', () => {
    const p = fresh();
    chmodSync(p, 0o444);
    expect(dmthin('check', '-q', p).code).toBe(0);
  });
  it('accepts_superblock_only, accepts_skip_mappings, accepts_ignore_non_fatal_errors, accepts_quiet, accepts_clear_needs_check_flag, accepts_auto_repair', () => {
    for (const f of ['--super-block-only', '--skip-mappings', '--ignore-non-fatal-errors', '-q', '--quiet', '--clear-needs-check-flag', '--auto-repair']) {
      expect(dmthin('check', f, fresh()).code, f).toBe(0);
    }
  });
  it('detects_corrupt_superblock_with_superblock_only, checks_superblock_only', () => {
    const p = fresh();
    corruptSuperblock(p);
    expect(dmthin('check', '--super-block-only', p).code).toBe(1);
    expect(dmthin('check', '--super-block-only', fresh()).code).toBe(0);
  });
  it('prints_info_fields, prints_info_with_superblock_only', () => {
    expect(dmthin('check', fresh()).stdout).toMatch(/^TRANSACTION_ID=\d+\nMETADATA_FREE_BLOCKS=\d+\n$/);
    expect(dmthin('check', '--super-block-only', fresh()).stdout).toMatch(/^TRANSACTION_ID=\d+\n/);
  });
  it('rejects_auto_repair_with_{metadata_snap, override_mapping_root, override_details_root, superblock_only, skip_mappings, ignore_non_fatal_errors}', () => {
    for (const extra of [
      ['-m'],
      ['--override-mapping-root', '1'],
      ['--override-details-root', '1'],
      ['--super-block-only'],
      ['--skip-mappings'],
      ['--ignore-non-fatal-errors'],
    ]) {
      const r = dmthin('check', '--auto-repair', ...extra, fresh());
      expect(r.code, extra.join(' ')).not.toBe(0);
    }
  });
  it('accepts_clear_needs_check_with_{superblock_only, skip_mappings, ignore_non_fatal_errors}; rejects it with metadata_snap and overrides', () => {
    for (const extra of [['--super-block-only'], ['--skip-mappings'], ['--ignore-non-fatal-errors']]) {
      expect(dmthin('check', '--clear-needs-check-flag', ...extra, fresh()).code, extra.join(' ')).toBe(0);
    }
    for (const extra of [['-m'], ['--override-mapping-root', '1'], ['--override-details-root', '1']]) {
      expect(dmthin('check', '--clear-needs-check-flag', ...extra, fresh()).code, extra.join(' ')).not.toBe(0);
    }
  });
  it('clear_needs_check, clear_needs_check_if_{superblock_only, skip_mappings, ignore_non_fatal_errors}', () => {
    for (const extra of [[], ['--super-block-only'], ['--skip-mappings'], ['--ignore-non-fatal-errors']]) {
      const p = fresh();
      setNeedsCheck(p);
      expect(dmthin('check', '--clear-needs-check-flag', ...extra, p).code).toBe(0);
      expect(check(p).needsCheck, extra.join(' ')).toBe(false);
    }
  });
  for (const option of ['--clear-needs-check-flag', '--auto-repair']) {
    it(`${option}: fixes_metadata_leaks, fixes_metadata_leaks_and_clears_flag`, () => {
      const p = fresh();
      leakMetadata(p, 4);
      setNeedsCheck(p);
      expect(dmthin('check', option, p).code).toBe(0);
      const r = check(p);
      expect([r.ok, r.findings.length, r.leakedMetadataBlocks]).toEqual([true, 0, 0]);
      if (option === '--clear-needs-check-flag') expect(r.needsCheck).toBe(false);
    });
    it(`${option}: keeps_health_metadata_untouched`, () => {
      const p = fresh();
      const before = readFileSync(p);
      expect(dmthin('check', option, p).code).toBe(0);
      expect(readFileSync(p).equals(before)).toBe(true);
    });
    it(`${option}: cannot_fix_unexpected_ref_counts`, () => {
      const p = fresh();
      overcountMetadata(p);
      setNeedsCheck(p);
      expect(dmthin('check', option, p).code).toBe(1);
      expect(check(p).needsCheck).toBe(true);
    });
  }
  it('metadata_leaks_are_non_fatal, fatal_errors_cant_be_ignored', () => {
    const leaky = fresh();
    leakMetadata(leaky, 2);
    expect(dmthin('check', leaky).code).toBe(1);
    expect(dmthin('check', '--ignore-non-fatal-errors', leaky).code).toBe(0);
    const broken = fresh();
    overcountMetadata(broken);
    expect(dmthin('check', '--ignore-non-fatal-errors', broken).code).toBe(1);
  });
  it('online_check_metadata_snapshot, online_check_should_fail_if_no_metadata_snap, online_check_should_read_metadata_snapshot_only', () => {
    const k = unpackKernelFixture(tmp.dir);
    expect(dmthin('check', '-m', k).code).toBe(0);
    expect(dmthin('check', '-m', fresh()).stderr).toMatch(/no current metadata snapshot/);
    expect(dmthin('check', '-m', k).stderr).not.toMatch(/examining devices tree\n/);
  });
  it('offline_check_should_defer_checking_metadata_snap: a plain check walks both the live trees and the snapshot', () => {
    const k = unpackKernelFixture(tmp.dir);
    const r = dmthin('check', k);
    expect(r.stderr).toMatch(/examining devices tree[\s\S]*examining metadata snapshot: devices tree/);
  });
});
