/**
 * Metadata made by real kernels: dmthin's check verdict and dump must match
 * thin-provisioning-tools on every one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { check } from '../../src/thin/check/check.js';
import { dmthin } from '../support/cli.js';
import { oracle, scratch, skipReason, tpt09, tpt11 } from '../support/env.js';
import { haveSharedKernelFixture, sharedKernelFixture, tptPacks, unpackSharedKernelFixture, unpackTpt } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

describe.skipIf(
  skipReason(
    haveSharedKernelFixture(),
    `${sharedKernelFixture} is absent: tests on another kernel's (6.1) metadata; the project's own kernel fixtures below still run`,
  ),
)('kernel 6.1 metadata (snapshots sharing subtrees, deleted thin, held metadata snapshot)', () => {
  it('checks clean, with the transaction id the kernel set', () => {
    const meta = unpackSharedKernelFixture(tmp.dir);
    const r = check(meta);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.transactionId).toBe(7n);
    expect(r.nrDevices).toBe(3);
  });

  it.skipIf(skipReason(!!tpt09, 'thin-provisioning-tools 0.9 (thin_dump) missing: dump comparisons'))(
    'dumps XML, human-readable and the metadata snapshot byte-identical to thin_dump 0.9',
    () => {
      const meta = unpackSharedKernelFixture(tmp.dir);
      for (const args of [[], ['--format', 'human_readable'], ['-m'], ['--dev-id', '2'], ['--skip-mappings']]) {
        const ours = dmthin('dump', meta, ...args);
        const theirs = oracle('0.9', 'thin_dump', [...args, meta]);
        expect(ours.code, `dmthin dump ${args.join(' ')}: ${ours.stderr}`).toBe(0);
        expect(theirs.code).toBe(0);
        expect(ours.stdout).toBe(theirs.stdout);
      }
    },
  );
});

const packs = tptPacks();
describe.skipIf(skipReason(packs.length > 0 && !!tpt11 && !!tpt09, 'tpt-testdata or an oracle (0.9 and 1.1) missing: tpt fixture comparisons'))(
  "thin-provisioning-tools' own test metadata",
  () => {
    for (const pack of packs) {
      const name = basename(pack, '.pack');
      it(`${name}: check verdict and dump agree with thin_check/thin_dump`, () => {
        const meta = unpackTpt(pack, tmp.dir);
        const ours = check(meta);
        const v09 = oracle('0.9', 'thin_check', ['-q', meta]).code === 0;
        const v11 = oracle('1.1', 'thin_check', ['-q', meta]).code === 0;
        expect(v09).toBe(v11);
        expect(ours.ok, JSON.stringify(ours.findings.slice(0, 3))).toBe(v09);
        if (!ours.ok) {
          // Every fatal finding names where it is.
          for (const f of ours.findings.filter((x) => x.severity === 'fatal')) {
            expect(f.block !== undefined || /block \d+/.test(f.message), f.message).toBe(true);
          }
        }
        const theirs = oracle('0.9', 'thin_dump', [meta]);
        const d = dmthin('dump', meta);
        expect(d.code === 0).toBe(theirs.code === 0);
        if (theirs.code === 0) expect(d.stdout).toBe(theirs.stdout);
        else expect(d.stderr).toMatch(/^dmthin: block \d+: /);
      });
    }
  },
);

/**
 * The project's own kernel-made fixtures (test/scripts/make-fixtures.mjs ran them
 * on a real kernel): what dmthin reads must equal what the live kernel
 * reported (fixtures/*.facts) and what the oracles read.
 */
import { existsSync as exists, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, xzDecompress } from '../support/env.js';
import { Metadata } from '../../src/thin/metadata.js';
import { must } from '../../src/errors.js';

const projectFixtures = join(projectRoot, 'fixtures');
const made = exists(projectFixtures)
  ? readdirSync(projectFixtures)
      .filter((n) => n.endsWith('.meta.xz'))
      .sort()
  : [];

describe('fixtures made by this project on a real kernel', () => {
  it('exist (test/scripts/make-fixtures.mjs makes them)', () => {
    expect(made).toEqual([
      'fsdiff.meta.xz',
      'generations.meta.xz',
      'many-thins.meta.xz',
      'recovery-a.meta.xz',
      'recovery-b.meta.xz',
      'recovery-c.meta.xz',
      'recovery-d.meta.xz',
      'snapshots.meta.xz',
    ]);
  });

  for (const name of made) {
    const base = name.replace(/\.meta\.xz$/, '');
    it(`${base}: check and the kernel's live status agree`, () => {
      const meta = tmp.path(`${base}.meta`);
      if (!exists(meta)) xzDecompress(join(projectFixtures, name), meta);
      // The recovery pools share one facts file: a status line each, taken as the pool was copied.
      const facts = base.startsWith('recovery-')
        ? [
            must(
              readFileSync(join(projectFixtures, 'recovery.facts'), 'utf8')
                .split('\n')
                .find((l) => l.startsWith(`status ${base} `)),
              `recovery.facts' status line of ${base}`,
            ).slice(`status ${base} `.length),
          ]
        : readFileSync(join(projectFixtures, `${base}.facts`), 'utf8')
            .trim()
            .split('\n')
            // fsdiff's facts name their lines ("status ...", "thin N BYTES bytes, S sectors mapped, md5 ...") beside other facts.
            .filter((l) => !/^(ext4|xfs) /.test(l))
            .map((l) => l.replace(/^status /, '').replace(/^(thin \d+) \d+ bytes, /, '$1 '));
      // 0 <len> thin-pool <tid> <used meta>/<total> <used data>/<total> <held|-> ...
      const st = facts[0].split(/\s+/);
      const r = check(meta);
      expect(r.findings).toEqual([]);
      expect(r.transactionId).toBe(BigInt(st[3]));
      expect(r.dataBlocksUsed).toBe(Number(st[5].split('/')[0]));
      const md = Metadata.open(meta);
      expect(md.superblock.heldRoot).toBe(st[6] === '-' ? 0 : Number(st[6]));
      const devices = md.devices();
      for (const line of facts.slice(1)) {
        const m = must(/^thin (\d+) (\d+) sectors mapped/.exec(line), `a thin line: ${line}`);
        const d = must(
          devices.find((x) => x.devId === Number(m[1])),
          `thin ${m[1]} in the metadata`,
        );
        expect(d.mappedBlocks * md.superblock.dataBlockSize, line).toBe(Number(m[2]));
      }
      md.close();
    });

    it.skipIf(skipReason(!!tpt09 && !!tpt11, 'oracles 0.9 and 1.1 missing: project fixture comparisons'))(
      `${base}: dumps (and -m) match thin_dump 0.9; both thin_checks pass`,
      () => {
        const meta = tmp.path(`${base}.meta`);
        if (!exists(meta)) xzDecompress(join(projectFixtures, name), meta);
        expect(oracle('0.9', 'thin_check', ['-q', meta]).code).toBe(0);
        expect(oracle('1.1', 'thin_check', ['-q', meta]).code).toBe(0);
        expect(dmthin('dump', meta).stdout).toBe(oracle('0.9', 'thin_dump', [meta]).stdout);
        const snap = oracle('0.9', 'thin_dump', ['-m', meta]);
        if (snap.code === 0) expect(dmthin('dump', '-m', meta).stdout).toBe(snap.stdout);
        else expect(dmthin('dump', '-m', meta).code).toBe(1);
      },
    );
  }
});
