/**
 * `dmthin doctor` as a person meets it: text in the order wrong, at risk,
 * next; exit codes; --json through the one converter; -o's refusals.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { treeBlocks } from '../bench/recovery.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';
import { unpackKernelFixture } from '../support/fixtures.js';
import { writeBlock } from '../support/damage.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

function damagedRecovery(): { meta: string; data: string } {
  const meta = tmp.path('rec.meta');
  const data = tmp.path('rec.data');
  if (!existsSync(data)) {
    xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.meta.xz'), meta);
    xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.data.xz'), data);
    writeBlock(meta, treeBlocks(meta, 1).leaves[0], new Uint8Array(4096));
  }
  return { meta, data };
}

describe('dmthin doctor (CLI)', () => {
  it("every doctor form's --help names every file a kit holds", () => {
    const { meta, data } = damagedRecovery();
    const kit = tmp.path('help-kit');
    expect(dmthin('doctor', '--metadata', meta, '--data', data, '-o', kit).code).toBe(1);
    // What a real kit holds (directories by name), and the LVM kit's VG text.
    const held = readdirSync(kit).map((f) => (['candidates', 'inferred'].includes(f) ? `${f}/` : f));
    expect(held).toEqual(
      expect.arrayContaining(['report.json', 'plan.txt', 'original-metadata.bin', 'original-metadata.pack', 'repaired.meta', 'candidates/']),
    );
    for (const form of [['doctor'], ['lvm', 'doctor'], ['docker', 'doctor'], ['pool', 'doctor']]) {
      const help = dmthin(...form, '--help').stdout;
      for (const f of [...held, 'inferred/', '.vg']) expect(help, `${form.join(' ')} --help names ${f}`).toContain(f);
    }
  });

  it("the text's kit listing says the byte-for-byte copy keeps the damaged blocks and the pack does not", () => {
    const { meta, data } = damagedRecovery();
    const kit = tmp.path('text-kit');
    const r = dmthin('doctor', '--metadata', meta, '--data', data, '-o', kit);
    expect(r.code, r.stderr).toBe(1);
    const listing = r.stdout.slice(r.stdout.indexOf(`Kit written to ${kit}:`));
    expect(listing).toMatch(/^ {2}original-metadata\.bin \(original_metadata\): the metadata as found, byte for byte .*keeps the damaged blocks$/m);
    expect(listing).toMatch(
      /^ {2}original-metadata\.pack \(original_metadata_pack\): a compact copy of the metadata blocks that check.*the damaged blocks are not in it/m,
    );
    // Many candidate blocks: the words once, then the names.
    expect(listing.match(/each candidate data block's bytes/g)).toHaveLength(1);
  });

  it('text says what is wrong, then what is at risk, then what to do next, and exits 1', () => {
    const { meta, data } = damagedRecovery();
    const r = dmthin('doctor', '--metadata', meta, '--data', data);
    expect(r.code).toBe(1);
    const wrong = r.stdout.indexOf('What is wrong:');
    const risk = r.stdout.indexOf('What is at risk:');
    const next = r.stdout.indexOf('What to do next:');
    expect(wrong).toBeGreaterThanOrEqual(0);
    expect(risk).toBeGreaterThan(wrong);
    expect(next).toBeGreaterThan(risk);
    expect(r.stdout).toMatch(/lost_mappings/);
    // The original is copied byte for byte (then packed) before the candidates are saved, and both before any repair.
    const copy = r.stdout.indexOf(`cp --sparse=always ${meta} ${meta}.before-doctor`);
    const pack = r.stdout.indexOf('dmthin metadata pack');
    const dd = r.stdout.indexOf(`dd if=${data}`);
    const repair = r.stdout.indexOf('dmthin repair');
    expect(copy).toBeGreaterThan(next);
    expect(pack).toBeGreaterThan(copy);
    expect(dd).toBeGreaterThan(pack);
    expect(repair).toBeGreaterThan(dd);
    // Knock-on findings are a count under the cause, not lines of their own.
    expect(r.stdout).not.toMatch(/reference count on disk/);
  });

  it('the metadata as a positional argument or --metadata gives the same report', () => {
    const meta = unpackKernelFixture(tmp.dir);
    const a = dmthin('doctor', meta, '--json');
    const b = dmthin('doctor', '--metadata', meta, '--json');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout).healthy).toBe(true);
  });

  it('--json keys are snake_case, as the issue names them', () => {
    const { meta, data } = damagedRecovery();
    const j = JSON.parse(dmthin('doctor', meta, '--data', data, '--json').stdout);
    expect(Object.keys(j.devices[0])).toEqual(expect.arrayContaining(['device_id', 'mapped_bytes', 'lost', 'recovered_from_older']));
    expect(Object.keys(j.candidates[0])).toEqual(expect.arrayContaining(['data_block', 'offset', 'matches']));
    expect(Object.keys(j.problems[0])).toEqual(expect.arrayContaining(['code', 'severity', 'summary']));
    expect(Object.keys(j.plan[0])).toEqual(expect.arrayContaining(['step']));
  });

  it('a missing metadata file fails in one line, nothing on stdout', () => {
    const r = dmthin('doctor', tmp.path('nope.meta'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/nope\.meta/);
  });

  it('-o into a directory whose parent is missing is refused, nothing made', () => {
    copyFileSync(unpackKernelFixture(tmp.dir), tmp.path('o.meta'));
    const before = readdirSync(tmp.dir).sort();
    const r = dmthin('doctor', tmp.path('o.meta'), '-o', tmp.path('no/such/kit'));
    expect(r.code).toBe(2);
    expect(readdirSync(tmp.dir).sort()).toEqual(before);
  });
});
