/**
 * ls, delta, rmap, metadata-size and trim side by side with thin_ls,
 * thin_delta, thin_rmap and thin_metadata_size, on kernel-made and generated
 * pools (snapshots sharing subtrees, deleted devices, held snapshots).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metadataBytesFor, writePoolXml } from '../bench/pool-generator.js';
import { restore } from '../../src/thin/restore/restore.js';
import { dmthin } from '../support/cli.js';
import { emptyFile, oracle, projectRoot, scratch, skipReason, tpt09, tpt11, xzDecompress } from '../support/env.js';
import { haveSharedKernelFixture, sharedKernelFixture, tptPacks, unpackSharedKernelFixture, unpackTpt } from '../support/fixtures.js';
import { patchBlock } from '../support/damage.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** Every pool to compare on: kernel-made (shared and project fixtures) and generated. */
const pools: Array<{ name: string; meta: string; devs: number[]; held: boolean }> = [];

beforeAll(() => {
  if (
    !skipReason(
      haveSharedKernelFixture(),
      `${sharedKernelFixture} is absent: ls/delta/rmap on the shared kernel 6.1 fixture (the project's own kernel fixtures still run)`,
    )
  ) {
    pools.push({ name: 'kernel-6.1', meta: unpackSharedKernelFixture(tmp.dir), devs: [1, 2, 4], held: true });
  }
  const fx = join(projectRoot, 'fixtures');
  for (const f of existsSync(fx) ? readdirSync(fx).filter((n) => n.endsWith('.meta.xz')) : []) {
    const meta = tmp.path(f.replace(/\.xz$/, ''));
    xzDecompress(join(fx, f), meta);
    // Devices of each fixture as its script made them (test/kernel/guest/make-fixtures.sh).
    const devs = {
      'snapshots.meta.xz': [1, 2, 4, 5],
      // ext4 on thin 1 and its snapshot 2, XFS on thin 3 and its snapshot 4.
      'fsdiff.meta.xz': [1, 2, 3, 4],
      'many-thins.meta.xz': [10, 11, 100],
      'generations.meta.xz': [1, 2, 5, 10],
      // Recovery's pools: the live devices left after the deletes.
      'recovery-a.meta.xz': [1, 4],
      'recovery-b.meta.xz': [1, 4],
      'recovery-c.meta.xz': [1, 4, 5],
      'recovery-d.meta.xz': [1, 4],
    }[f];
    if (!devs) throw new Error(`fixtures/${f}: no devices listed for it in this test`);
    pools.push({ name: f, meta, devs, held: f.startsWith('snapshots') });
  }
  if (tpt11) {
    for (const p of tptPacks().filter((n) => /\/tmeta(_with_metadata_snap)?\.pack$/.test(n))) {
      pools.push({ name: p, meta: unpackTpt(p, tmp.dir), devs: [1, 2, 3], held: p.includes('metadata_snap') });
    }
  }
  const xml = tmp.path('gen.xml');
  const g = writePoolXml(xml, { seed: 21, origins: 2, snapshotsPerOrigin: 3, mappingsPerOrigin: 40000, rewriteShare: 0.2, runLength: 3 });
  const meta = emptyFile(tmp.path('gen.meta'), metadataBytesFor(g.mappings));
  restore(xml, meta);
  pools.push({ name: 'generated', meta, devs: [0, 1, 3, 5], held: false });
});

const ALL_FIELDS =
  'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS,MAPPED_SECTORS,EXCLUSIVE_SECTORS,SHARED_SECTORS,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES,MAPPED,EXCLUSIVE,SHARED,TRANSACTION,CREATE_TIME,SNAP_TIME';

describe.skipIf(skipReason(!!tpt09, 'thin-provisioning-tools 0.9 missing: ls/delta/rmap/metadata-size comparisons'))('against thin-provisioning-tools', () => {
  it('ls prints what thin_ls prints: default fields, every field, no headers, -m', () => {
    expect(pools.length).toBeGreaterThanOrEqual(3);
    for (const p of pools) {
      const variants: string[][] = [[], ['-o', ALL_FIELDS], ['--no-headers', '-o', 'DEV,EXCLUSIVE,SHARED']];
      if (p.held) variants.push(['-m']);
      for (const v of variants) {
        // dmthin ls takes thin_ls's -o FIELDS as -f (its -o is the output file); the drop-in takes -o.
        const ours = dmthin('ls', ...v.map((a) => (a === '-o' ? '-f' : a)), p.meta);
        expect(ours.code, ours.stderr).toBe(0);
        expect(ours.stdout, `${p.name} ${v.join(' ')}`).toBe(oracle('0.9', 'thin_ls', [...v, p.meta]).stdout);
      }
    }
  });

  it('ls --json gives every field as numbers, consistent with the table', () => {
    const p = must(
      pools.find((x) => x.name === 'generated'),
      'the generated pool',
    );
    const j = JSON.parse(dmthin('ls', '--json', p.meta).stdout);
    const table = oracle('0.9', 'thin_ls', ['--no-headers', '-o', 'DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS', p.meta])
      .stdout.trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    expect(j.devices.map((d: Record<string, number>) => [d.dev, d.mapped_blocks, d.exclusive_blocks, d.shared_blocks])).toEqual(table);
    expect(j.devices[0].mapped_bytes).toBe(j.devices[0].mapped_blocks * j.data_block_size * 512);
  });

  it('delta prints what thin_delta prints, plain and --verbose, both directions, with -m', () => {
    for (const p of pools) {
      for (let i = 0; i < p.devs.length; i++) {
        for (let k = 0; k < p.devs.length; k++) {
          if (i === k) continue;
          for (const v of [[], ['--verbose']]) {
            const args = ['--snap1', String(p.devs[i]), '--snap2', String(p.devs[k]), ...v];
            const ours = dmthin('delta', ...args, p.meta);
            expect(ours.code, ours.stderr).toBe(0);
            expect(ours.stdout, `${p.name} ${args.join(' ')}`).toBe(oracle('0.9', 'thin_delta', [...args, p.meta]).stdout);
          }
        }
      }
      if (p.held) {
        const args = ['-m', '--snap1', String(p.devs[0]), '--snap2', String(p.devs[1])];
        expect(dmthin('delta', ...args, p.meta).stdout).toBe(oracle('0.9', 'thin_delta', [...args, p.meta]).stdout);
      }
    }
  });

  it('delta --format json agrees with the verbose XML', () => {
    const p = must(
      pools.find((x) => x.name === 'generated'),
      'the generated pool',
    );
    const j = JSON.parse(dmthin('delta', '--format', 'json', '--snap1', '0', '--snap2', '1', p.meta).stdout);
    const xml = oracle('0.9', 'thin_delta', ['--verbose', '--snap1', '0', '--snap2', '1', p.meta]).stdout;
    const ranges = [...xml.matchAll(/<range begin="(\d+)"[^/]*length="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(j.ranges.map((r: number[]) => [r[1], r[2]])).toEqual(ranges);
  });

  it("rmap lists every device using each block: the oracles' runs and the ones they miss in shared leaves", () => {
    for (const p of pools) {
      const dumpXml = oracle('0.9', 'thin_dump', [p.meta]).stdout;
      const nr = Number(must(/nr_data_blocks="(\d+)"/.exec(dumpXml), 'nr_data_blocks in the dump')[1]);
      for (const regions of [
        [[0, 64]],
        [
          [100, 300],
          [1000, 1010],
        ],
        [[0, 1000000]],
      ]) {
        if (regions[0][0] >= nr) continue;
        const args = regions.flatMap(([b, e]) => ['--region', `${b}..${e}`]);
        const ours = dmthin('rmap', ...args, p.meta);
        expect(ours.code, ours.stderr).toBe(0);
        const lines = ours.stdout.split('\n').filter(Boolean);
        // The truth, from thin_dump's listing of every device's mappings.
        expect(lines, `${p.name} ${args.join(' ')}`).toEqual(rmapFromDump(dumpXml, regions));
        // thin_rmap (0.9 and 1.1) reads a leaf shared by snapshots once, for
        // the first device that reaches it: every mapping it reports is one
        // of ours (its runs can be cut differently where it skipped a leaf).
        const theirs = expand(oracle('0.9', 'thin_rmap', [...args, p.meta]).stdout);
        const ourSet = new Set(expand(ours.stdout));
        for (const t of theirs) expect(ourSet.has(t), t).toBe(true);
        if (p.name === 'generated' && tpt11) expect(ours.stdout).toBe(oracle('1.1', 'thin_rmap', [...args, p.meta]).stdout);
      }
    }
  });

  it('metadata-size gives thin_metadata_size 0.9 numbers in every unit and form', () => {
    const cases = [
      '-b 64k -s 1t -m 1000',
      '-b 128 -s 2097152 -m 10',
      '-b 1m -s 10T -m 1k -u g',
      '-b 64k -s 100g -m 50 -u k',
      '-b 512k -s 3t -m 7 -u M',
      '-b 64k -s 1t -m 1000 -u b',
      '-b 64kibibytes -s 1tera -m 3 -u mebi',
    ];
    for (const c of cases) {
      for (const n of [[], ['-n'], ['--numeric-only=short'], ['--numeric-only=long']]) {
        const args = [...c.split(' '), ...n];
        const ours = dmthin('metadata-size', ...args);
        const theirs = oracle('0.9', 'thin_metadata_size', args);
        expect(ours.stdout.replace(/^dmthin metadata-size/, ''), args.join(' ')).toBe(theirs.stdout.replace(/^thin_metadata_size/, ''));
      }
    }
    expect(dmthin('metadata-size', '-b', '96k', '-s', '1t', '-m', '3').stderr).toMatch(/block size must be 2\^\^N/);
  });
});

describe('bad input gives a clear error and a non-zero exit', () => {
  it('unknown device, bad region, region past the end, damaged metadata', () => {
    const p = must(
      pools.find((x) => x.name === 'generated'),
      'the generated pool',
    );
    const d = dmthin('delta', '--snap1', '0', '--snap2', '999', p.meta);
    expect(d.code).toBe(1);
    expect(d).toMatchObject({ stdout: '' });
    expect(d.stderr).toMatch(/--snap2: no thin device 999/);
    expect(dmthin('rmap', '--region', '10..5', p.meta).stderr).toMatch(/END must be greater than BEGIN/);
    expect(dmthin('rmap', '--region', '10..5', p.meta).code).not.toBe(0);
    const past = dmthin('rmap', '--region', '99999999..100000000', p.meta);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/past the end of the data device/);
    expect(dmthin('ls', '-f', 'DEV,NOPE', p.meta).stderr).toMatch(/unknown field 'NOPE'/);
    const broken = tmp.path('broken.meta');
    copyFileSync(p.meta, broken);
    patchBlock(broken, 1, (b) => b.fill(0x33));
    const r = dmthin('ls', '-f', 'DEV,EXCLUSIVE', broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dmthin: block \d+: /);
  });
});

describe('trim on sparse files', () => {
  it('punches holes in exactly the free data blocks; used blocks and the metadata stay byte-identical', () => {
    const xml = tmp.path('trim.xml');
    const g = writePoolXml(xml, { seed: 3, origins: 1, snapshotsPerOrigin: 1, mappingsPerOrigin: 300, rewriteShare: 0.3, runLength: 5, spareDataBlocks: 200 });
    const meta = emptyFile(tmp.path('trim.meta'), 4 << 20);
    restore(xml, meta);
    const bs = 128 * 512;
    const data = tmp.path('trim.data');
    // A fully written data file: every block holds its own number.
    const buf = Buffer.alloc(g.nrDataBlocks * bs);
    for (let b = 0; b < g.nrDataBlocks; b++) buf.fill(b & 0xff, b * bs, (b + 1) * bs);
    writeFileSync(data, buf);
    const used = new Set<number>();
    for (const m of readFileSync(xml, 'utf8').matchAll(/data_(?:block|begin)="(\d+)"(?: length="(\d+)")?/g)) {
      for (let i = 0; i < Number(m[2] ?? 1); i++) used.add(Number(m[1]) + i);
    }
    const metaHash = createHash('sha256').update(readFileSync(meta)).digest('hex');
    const before = statSync(data).blocks;

    const dry = dmthin('trim', '--metadata', meta, '--data', data, '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout);
    const planned = new Set<number>();
    for (const [b, n] of plan.runs) for (let i = 0; i < n; i++) planned.add(b + i);
    expect(planned.size).toBe(g.nrDataBlocks - used.size);
    for (const b of used) expect(planned.has(b)).toBe(false);
    expect(statSync(data).blocks).toBe(before); // dry run changed nothing

    const r = dmthin('trim', '--metadata', meta, '--data', data);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`gave back ${planned.size * bs} bytes`));
    const after = readFileSync(data);
    expect(after.length).toBe(buf.length);
    for (let b = 0; b < g.nrDataBlocks; b++) {
      const block = after.subarray(b * bs, (b + 1) * bs);
      const want = used.has(b) ? b & 0xff : 0;
      expect(
        block.every((x) => x === want),
        `block ${b}`,
      ).toBe(true);
    }
    expect(statSync(data).blocks).toBeLessThan(before - (planned.size * bs) / 512 / 2);
    expect(createHash('sha256').update(readFileSync(meta)).digest('hex')).toBe(metaHash);
  });

  it('refuses while a loop device holds the data file', (ctx) => {
    const meta = tmp.path('trim.meta');
    const data = tmp.path('trim.data');
    const dev = spawnSync('losetup', ['--find', '--show', '--read-only', data], { encoding: 'utf8' });
    if (dev.status !== 0) {
      skipReason(false, `losetup cannot attach here (${dev.stderr.trim()}): trim's refusal test`);
      ctx.skip();
      return;
    }
    try {
      const r = dmthin('trim', '--metadata', meta, '--data', data);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/is attached to \/dev\/loop\d+: the pool may be active/);
    } finally {
      execFileSync('losetup', ['-d', dev.stdout.trim()]);
    }
  });
});

/** thin_rmap's runs computed from a thin_dump listing (an independent reference). */
function rmapFromDump(xml: string, regions: number[][]): string[] {
  const inRegion = (b: number): boolean => regions.some(([s, e]) => b >= s && b < e);
  const runs: Array<[number, number, number, number]> = []; // data begin, data end, dev, thin begin
  let cur: [number, number, number, number] | undefined;
  let dev = -1;
  for (const line of xml.split('\n')) {
    const d = /<device dev_id="(\d+)"/.exec(line);
    if (d) dev = Number(d[1]);
    const m = /origin_(?:begin|block)="(\d+)" data_(?:begin|block)="(\d+)"(?: length="(\d+)")?/.exec(line);
    if (!m) continue;
    for (let i = 0; i < Number(m[3] ?? 1); i++) {
      const v = Number(m[1]) + i;
      const b = Number(m[2]) + i;
      if (!inRegion(b)) continue;
      if (cur && cur[2] === dev && b === cur[1] && v === cur[3] + (cur[1] - cur[0])) cur[1]++;
      else {
        if (cur) runs.push(cur);
        cur = [b, b + 1, dev, v];
      }
    }
  }
  if (cur) runs.push(cur);
  runs.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
  return runs.map(([b, e, d, v]) => `data ${b}..${e} -> thin(${d}) ${v}..${v + (e - b)}`);
}

/** "data B..E -> thin(D) V..W" lines as one "D:V:B" string per mapping. */
function expand(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/data (\d+)\.\.(\d+) -> thin\((\d+)\) (\d+)\.\./g)) {
    for (let b = Number(m[1]); b < Number(m[2]); b++) out.push(`${m[3]}:${Number(m[4]) + b - Number(m[1])}:${b}`);
  }
  return out;
}

describe('delta --summary skips what two snapshots share', () => {
  it.skipIf(skipReason(!!tpt09 && tptPacks().length > 0, 'oracle 0.9 or tpt-testdata missing: delta --summary comparisons'))(
    'counts what thin_delta --verbose lists, reading only the leaves that differ',
    () => {
      const shared = unpackTpt(
        must(
          tptPacks().find((p) => p.endsWith('/tmeta_with_shared_internals_and_leaves.pack')),
          'tmeta_with_shared_internals_and_leaves.pack',
        ),
        tmp.dir,
      );
      for (const p of [...pools.map((x) => ({ meta: x.meta, a: x.devs[0], b: x.devs[1] })), { meta: shared, a: 1, b: 2 }]) {
        const s = JSON.parse(dmthin('delta', '--summary', '--format', 'json', '--snap1', String(p.a), '--snap2', String(p.b), p.meta).stdout);
        const xml = oracle('0.9', 'thin_delta', ['--verbose', '--snap1', String(p.a), '--snap2', String(p.b), p.meta]).stdout;
        const total = (kind: string): number =>
          [...xml.matchAll(new RegExp(`<${kind}>([\\s\\S]*?)</${kind}>`, 'g'))].reduce(
            (a, m) => a + [...m[1].matchAll(/length="(\d+)"/g)].reduce((x, l) => x + Number(l[1]), 0),
            0,
          );
        expect([s.same, s.different, s.left_only, s.right_only], p.meta).toEqual([total('same'), total('different'), total('left_only'), total('right_only')]);
      }
      // A snapshot sharing all but a few leaves with its origin: 65536 blocks compared from 2 leaves.
      const s = JSON.parse(dmthin('delta', '--summary', '--format', 'json', '--snap1', '1', '--snap2', '2', shared).stdout);
      expect(s).toMatchObject({ same: 65536, different: 0, left_only: 0, right_only: 64 });
      expect(s.leaves_read).toBeLessThanOrEqual(4);
      expect(s.shared_subtrees_skipped).toBeGreaterThan(100);
    },
  );
});
