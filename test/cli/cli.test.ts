/** The command line as an admin meets it: help, exit codes, messages without stack traces. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { writePoolXml } from '../bench/pool-generator.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, scratch } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

function pool(): { xml: string; meta: string } {
  const xml = tmp.path('p.xml');
  writePoolXml(xml, { seed: 5, origins: 1, snapshotsPerOrigin: 2, mappingsPerOrigin: 700, rewriteShare: 0.3, runLength: 6 });
  const meta = emptyFile(tmp.path('p.meta'), 4 << 20);
  expect(dmthin('restore', '-q', '-i', xml, '-o', meta).code).toBe(0);
  return { xml, meta };
}

describe('dmthin CLI', () => {
  it('--help lists the commands and each command explains itself', () => {
    const top = dmthin('--help');
    expect(top.code).toBe(0);
    for (const c of ['check', 'dump', 'restore', 'repair']) expect(top.stdout).toContain(c);
    const h = dmthin('check', '--help');
    expect(h.stdout).toMatch(/--ignore-non-fatal-errors/);
    expect(h.stdout).toMatch(/Exit status/);
  });

  it('a missing file is one clear line and exit 1', () => {
    for (const args of [
      ['check', '/nonexistent/meta'],
      ['dump', '/nonexistent/meta'],
      ['dump', '--repair', '/nonexistent/meta'],
      ['repair', '-i', '/nonexistent/meta', '-o', '/nonexistent/meta2'],
    ]) {
      const r = dmthin(...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/\/nonexistent\/meta/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('garbage input is reported, not thrown', () => {
    const junk = tmp.path('junk');
    writeFileSync(junk, Buffer.alloc(65536, 0xab));
    const c = dmthin('check', junk);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/bad superblock checksum.*\[block 0\]/);
    expect(c.stderr).toContain(`dmthin repair -i ${junk} -o NEW`);
    expect(dmthin('check', '-q', junk).stderr).toBe('');
    const d = dmthin('dump', junk);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe(`dmthin: ${d.stderr.slice(8)}`);
    expect(d.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('bad arguments exit 2 with usage', () => {
    const r = dmthin('dump', '--format', 'yaml', tmp.path('x'));
    expect(r.code).not.toBe(0);
    expect(dmthin('frobnicate').code).toBe(2);
    expect(dmthin('restore', '-i', 'x').code).toBe(2);
  });

  it('check -q prints nothing; --json prints one parseable object', () => {
    const { meta } = pool();
    const q = dmthin('check', '-q', meta);
    expect(q).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const j = dmthin('check', '--json', meta);
    const o = JSON.parse(j.stdout);
    expect(o).toMatchObject({ ok: true, exit_code: 0, nr_devices: 3, nr_mappings: 2100, findings: [] });
    expect(JSON.stringify(o)).not.toMatch(/"[a-z]+[A-Z]/); // snake_case keys only
  });

  it('transaction ids keep all 64 bits, from XML, options and metadata, as thin-provisioning-tools keeps them', () => {
    const { xml, meta } = pool();
    const max = '18446744073709551615';
    const big = tmp.path('big.xml');
    writeFileSync(big, readFileSync(xml, 'utf8').replace(/transaction="\d+"/g, `transaction="${max}"`));
    expect(dmthin('restore', '-q', '-i', big, '-o', meta).code).toBe(0);
    expect(dmthin('check', meta).stdout).toContain(`TRANSACTION_ID=${max}\n`);
    expect(dmthin('dump', meta).stdout).toBe(readFileSync(big, 'utf8'));
    expect(dmthin('ls', '--json', meta).stdout).toContain(`"transaction": ${max}`);
    expect(dmthin('restore', '-q', '-i', xml, '-o', meta, '--transaction-id', '9007199254740993').code).toBe(0);
    expect(dmthin('dump', '--skip-mappings', meta).stdout).toMatch(/^<superblock [^>]*transaction="9007199254740993"/);
    const over = dmthin('restore', '-i', xml, '-o', meta, '--transaction-id', '18446744073709551616');
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/does not fit in 64 bits/);
  });

  it('dump -o writes a file; --format json is parseable and agrees with the XML', () => {
    const { xml, meta } = pool();
    const out = tmp.path('out.xml');
    expect(dmthin('dump', '-o', out, meta).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(xml, 'utf8'));
    const j = JSON.parse(dmthin('dump', '--format', 'json', meta).stdout);
    expect(j.devices).toHaveLength(3);
    const mapped = j.devices.map((d: { mappings: number[][] }) => d.mappings.reduce((a, r) => a + r[2], 0));
    expect(mapped).toEqual([700, 700, 700]);
    const ranges = (readFileSync(xml, 'utf8').match(/_mapping /g) ?? []).length;
    expect(j.devices.reduce((a: number, d: { mappings: unknown[] }) => a + d.mappings.length, 0)).toBe(ranges);
    expect(dmthin('dump', '--json', meta).stdout).toBe(dmthin('dump', '--format', 'json', meta).stdout);
  });

  it('dump --dev-id of an unknown device fails naming it', () => {
    const { meta } = pool();
    const r = dmthin('dump', '--dev-id', '77', meta);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no thin device 77/);
  });

  it('dump -m without a metadata snapshot says so', () => {
    const { meta } = pool();
    const r = dmthin('dump', '-m', meta);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds no metadata snapshot/);
  });

  it('restore without an existing output tells how to make one', () => {
    const { xml } = pool();
    const r = dmthin('restore', '-i', xml, '-o', tmp.path('nope.meta'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not exist: create it .*truncate -s/);
  });

  it("repair without an existing output says to make it the input's size, not a fixed one", () => {
    const { meta } = pool();
    const r = dmthin('repair', '-i', meta, '-o', tmp.path('nope2.meta'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`truncate -s ${statSync(meta).size} ${tmp.path('nope2.meta')}`);
  });
});
