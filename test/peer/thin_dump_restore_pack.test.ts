/**
 * thin-provisioning-tools' tests/thin_dump.rs, thin_restore.rs,
 * thin_metadata_pack.rs and thin_metadata_unpack.rs, behaviour by behaviour.
 * (The --repair and override cases of thin_dump, and thin_repair.rs, wait for
 * dmthin repair: see docs/peer-tests.md.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dmthin, cliPath } from '../support/cli.js';
import { emptyFile, scratch } from '../support/env.js';
import { unpackKernelFixture } from '../support/fixtures.js';
import { check } from '../../src/thin/check/check.js';
import { copyOf, makePool } from './peer-support.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
let meta = '';
let xml = '';
beforeAll(() => ({ meta, xml } = makePool(tmp.dir)));

describe('thin_dump peer behaviours', () => {
  it('accepts_help, rejects_bad_option, missing_input_arg, input_file_not_found, input_cannot_be_a_directory', () => {
    expect(dmthin('dump', '--help').code).toBe(0);
    expect(dmthin('dump', '--bogus', meta).code).toBe(2);
    expect(dmthin('dump').code).toBe(2);
    expect(dmthin('dump', tmp.path('nope')).code).toBe(1);
    mkdirSync(tmp.path('d'), { recursive: true });
    expect(dmthin('dump', tmp.path('d')).code).toBe(1);
  });
  it('readonly_input_file', () => {
    const p = copyOf(meta, tmp.path('ro.meta'));
    chmodSync(p, 0o444);
    expect(dmthin('dump', p).code).toBe(0);
  });
  it('dump_restore_cycle', () => {
    const d1 = dmthin('dump', meta).stdout;
    writeFileSync(tmp.path('cycle.xml'), d1);
    const out = emptyFile(tmp.path('cycle.meta'), 4 << 20);
    expect(dmthin('restore', '-i', tmp.path('cycle.xml'), '-o', out, '-q').code).toBe(0);
    expect(dmthin('dump', out).stdout).toBe(d1);
  });
  it('no_stderr_on_success', () => {
    expect(dmthin('dump', meta).stderr).toBe('');
  });
  it('no_stderr_on_broken_pipe_xml, no_stderr_on_broken_pipe_humanreadable', () => {
    for (const fmt of ['xml', 'human_readable']) {
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${cliPath}" dump -f ${fmt} "${meta}" | head -1 >/dev/null; echo "exit=\${PIPESTATUS:-0}"`], {
        encoding: 'utf8',
      });
      expect(r.stderr, fmt).toBe('');
    }
  });
  it('no_stderr_on_broken_fifo_xml', () => {
    const fifo = tmp.path('fifo');
    spawnSync('mkfifo', [fifo]);
    const r = spawnSync(
      'sh',
      ['-c', `("${process.execPath}" "${cliPath}" dump -o "${fifo}" "${meta}" 2>"${tmp.path('fifo.err')}" &) ; head -c 100 "${fifo}" >/dev/null; sleep 1`],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(readFileSync(tmp.path('fifo.err'), 'utf8')).toBe('');
  });
  it('dump_metadata_snapshot', () => {
    const k = unpackKernelFixture(tmp.dir);
    const r = dmthin('dump', '-m', k);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/nr_data_blocks="0"/);
  });
});

describe('thin_restore peer behaviours', () => {
  it('accepts_help, missing_input_option, missing_output_option, input_file_not_found', () => {
    expect(dmthin('restore', '--help').code).toBe(0);
    expect(dmthin('restore', '-o', meta).code).toBe(2);
    expect(dmthin('restore', '-i', xml).code).toBe(2);
    expect(dmthin('restore', '-i', tmp.path('nope.xml'), '-o', emptyFile(tmp.path('o1'), 4 << 20)).stderr).toMatch(
      /cannot read XML input .*nope\.xml: no such file/,
    );
  });
  it('corrupted_input_data', () => {
    writeFileSync(tmp.path('bad.xml'), Buffer.alloc(4096, 0x55));
    const r = dmthin('restore', '-i', tmp.path('bad.xml'), '-o', emptyFile(tmp.path('o2'), 4 << 20));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no <superblock> element/);
  });
  it('tiny_output_file', () => {
    const r = dmthin('restore', '-i', xml, '-o', emptyFile(tmp.path('tiny'), 4096));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/too small/);
  });
  it('unwritable_output_file', () => {
    const o = emptyFile(tmp.path('ro-out'), 4 << 20);
    chmodSync(o, 0o444);
    // Root ignores file modes; an output in a read-only place fails for root too.
    const r = dmthin('restore', '-i', xml, '-o', '/proc/version');
    expect(r.code).toBe(1);
  });
  it('accepts_q, accepts_quiet', () => {
    for (const q of ['-q', '--quiet']) {
      const r = dmthin('restore', q, '-i', xml, '-o', emptyFile(tmp.path(`q${q}`), 4 << 20));
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
  });
  it('override_transaction_id, override_data_block_size, override_nr_data_blocks', () => {
    for (const [flag, value, pattern] of [
      ['--transaction-id', '2345', /transaction="2345"/],
      ['--data-block-size', '8192', /data_block_size="8192"/],
      ['--nr-data-blocks', '234500', /nr_data_blocks="234500"/],
    ] as const) {
      const out = emptyFile(tmp.path(`ov${flag}`), 4 << 20);
      expect(dmthin('restore', '-q', '-i', xml, '-o', out, flag, value).code).toBe(0);
      expect(dmthin('dump', out).stdout.split('\n')[0]).toMatch(pattern);
      expect(check(out).ok).toBe(true);
    }
  });
});

describe('thin_metadata_pack / unpack peer behaviours', () => {
  it('accepts_help, rejects_bad_option, missing_input_option, missing_output_option, input_file_not_found', () => {
    for (const v of ['pack', 'unpack']) {
      expect(dmthin('metadata', v, '--help').code).toBe(0);
      expect(dmthin('metadata', v, '--bogus').code).toBe(2);
      expect(dmthin('metadata', v, '-o', tmp.path('x')).code).toBe(2);
      expect(dmthin('metadata', v, '-i', meta).code).toBe(2);
      expect(dmthin('metadata', v, '-i', tmp.path('nope'), '-o', tmp.path('x')).code).toBe(1);
    }
  });
  it('unpack corrupted_input_data', () => {
    expect(dmthin('metadata', 'unpack', '-i', meta, '-o', tmp.path('x')).stderr).toMatch(/not a pack file/);
  });
  it('end_to_end: pack then unpack gives metadata that dumps the same', () => {
    const p = tmp.path('e2e.pack');
    const out = tmp.path('e2e.meta');
    expect(dmthin('metadata', 'pack', '-i', meta, '-o', p).code).toBe(0);
    expect(dmthin('metadata', 'unpack', '-i', p, '-o', out).code).toBe(0);
    expect(dmthin('dump', out).stdout).toBe(dmthin('dump', meta).stdout);
  });
});
