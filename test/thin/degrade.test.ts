/**
 * Nothing degrades silently (issue 23, item 7): on metadata damaged under
 * the superblock (a mapping leaf, the details tree) or at the superblock,
 * every read command either works around the damage and says what it
 * could not read (export: the lost ranges as zeros, listed, exit 1) or
 * fails in one line naming the command to run instead, with nothing on
 * standard output and no output file left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '../../src/thin/metadata.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, xzDecompress } from '../support/env.js';
import { patchBlock } from '../support/damage.js';
import { must } from '../../src/errors.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const healthy = tmp.path('a.meta');
const data = tmp.path('a.data');
const BS = 128 * 512;

interface Leaf {
  block: number;
  /** The virtual blocks it maps. */
  keys: number[];
}

/** The leaves of thin device `devId`'s mapping tree, in key order. */
function leavesOf(meta: string, devId: number): Leaf[] {
  const md = Metadata.open(meta);
  try {
    const dev = must(
      md.devices().find((d) => d.devId === devId),
      `device ${devId}`,
    );
    const leaves: Leaf[] = [];
    new BTreeTraversal(md.reader).walk(must(dev.mappingRoot, 'its root'), {
      valueSize: 8,
      tree: { kind: 'mappings', devId },
      onLeaf: (n) => {
        leaves.push({ block: n.location, keys: Array.from({ length: n.nrEntries }, (_, i) => n.key(i)) });
      },
    });
    return leaves;
  } finally {
    md.close();
  }
}

function detailsRoot(meta: string): number {
  const md = Metadata.open(meta);
  try {
    return md.view.detailsRoot;
  } finally {
    md.close();
  }
}

/** A copy of the healthy metadata with block `b` scribbled on (its checksum left stale). */
function damaged(name: string, b: number): string {
  const p = tmp.path(name);
  copyFileSync(healthy, p);
  patchBlock(p, b, (d) => {
    d[100] ^= 0xff;
  });
  return p;
}

let leaf: Leaf;
let otherKeys: Set<number>;
let leafMeta: string;
let detailsMeta: string;
let superMeta: string;

beforeAll(() => {
  xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.meta.xz'), healthy);
  xzDecompress(join(projectRoot, 'fixtures', 'recovery-a.data.xz'), data);
  const leaves = leavesOf(healthy, 1);
  expect(leaves.length).toBeGreaterThan(1);
  // Not on the rightmost path (export finds the device's end there).
  leaf = leaves[0];
  otherKeys = new Set(leaves.slice(1).flatMap((l) => l.keys));
  leafMeta = damaged('leaf.meta', leaf.block);
  detailsMeta = damaged('details.meta', detailsRoot(healthy));
  superMeta = damaged('super.meta', 0);
});

/** The one line a refusal prints: names the command to run instead, nothing on stdout. */
function expectRefusal(r: { code: number; stdout: string; stderr: string }, meta: string): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`dmthin doctor --metadata ${meta}`);
}

describe('read commands on a destroyed mapping leaf', () => {
  it('dump, delta and rmap to standard output fail in one line naming dmthin doctor, printing nothing', () => {
    expectRefusal(dmthin('dump', leafMeta), leafMeta);
    expectRefusal(dmthin('dump', '--format', 'human_readable', leafMeta), leafMeta);
    expectRefusal(dmthin('delta', leafMeta, '--snap1', '1', '--snap2', '4'), leafMeta);
    expectRefusal(dmthin('delta', '--verbose', leafMeta, '--snap1', '4', '--snap2', '1'), leafMeta);
    expectRefusal(dmthin('rmap', leafMeta, '--region', '0..1024'), leafMeta);
    expectRefusal(dmthin('send', '--metadata', leafMeta, '--data', data, '--dev-id', '1', '-o', '-'), leafMeta);
    // The line names the block and what was wrong there.
    expect(dmthin('dump', leafMeta).stderr).toMatch(new RegExp(`^dmthin: block ${leaf.block}: thin device 1 mappings, keys 0\\.\\.\\d+: .*checksum`));
  });

  it('dump -o FILE fails and leaves no file, not even a partial one', () => {
    const dir = tmp.path('dump-out');
    const out = join(dir, 'x.xml');
    mkdirSync(dir);
    expectRefusal(dmthin('dump', leafMeta, '-o', out), leafMeta);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('ls lists what the details say but names the damage and exits 1', () => {
    const r = dmthin('ls', leafMeta);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DEV');
    expect(r.stderr).toContain(`block ${leaf.block} (thin device 1 mappings`);
    expect(r.stderr).toContain(`dmthin doctor --metadata ${leafMeta}`);
    expect(dmthin('ls', healthy).code).toBe(0);
  });

  it('export writes zeros exactly at the destroyed leaf’s virtual blocks, lists them, and exits 1', () => {
    const good = tmp.path('good.img');
    const lost = tmp.path('lost.img');
    expect(dmthin('export', '--metadata', healthy, '--data', data, '--dev-id', '1', '-o', good).code).toBe(0);
    const r = dmthin('export', '--metadata', leafMeta, '--data', data, '--dev-id', '1', '-o', lost, '--json');
    expect(r.code, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { lost: Array<{ from: number; to: number }>; lost_bytes: number; damage: { doctor: string; summary: string } };
    expect(j.damage.doctor).toBe(`dmthin doctor --metadata ${leafMeta} --data ${data}`);
    expect(j.damage.summary).toContain(`block ${leaf.block}`);
    const a = readFileSync(good);
    const b = readFileSync(lost);
    expect(b.length).toBe(a.length);
    const inLost = (v: number) => j.lost.some((l) => l.from <= v * BS && (v + 1) * BS <= l.to);
    const zero = Buffer.alloc(BS);
    for (let v = 0; v < a.length / BS; v++) {
      const was = a.subarray(v * BS, (v + 1) * BS);
      const now = b.subarray(v * BS, (v + 1) * BS);
      if (leaf.keys.includes(v)) {
        expect(now.equals(zero), `virtual block ${v} (the destroyed leaf's) reads as zeros`).toBe(true);
        expect(inLost(v), `virtual block ${v} is listed as lost`).toBe(true);
      } else {
        expect(now.equals(was), `virtual block ${v} as the healthy export`).toBe(true);
        // What other leaves map is read, not listed as lost.
        if (otherKeys.has(v)) expect(inLost(v), `virtual block ${v} is not lost`).toBe(false);
      }
    }
    // Without --json: the ranges and the doctor on stderr.
    const t = dmthin('export', '--metadata', leafMeta, '--data', data, '--dev-id', '1', '-o', tmp.path('lost2.img'));
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/LOST \d+ bytes of thin 1 in 1 range, written as zeros: bytes \d+\.\.\d+/);
    expect(t.stderr).toContain(`dmthin doctor --metadata ${leafMeta}`);
  });

  it('check says the data blocks only the lost leaf mapped may hold its data and names doctor before the repair advice', () => {
    // Truth from the healthy metadata: the data blocks the destroyed leaf maps that no other leaf of any device maps.
    const md = Metadata.open(healthy);
    const inLeaf = new Set<number>();
    const elsewhere = new Set<number>();
    try {
      for (const d of md.devices()) {
        new BTreeTraversal(md.reader).walk(must(d.mappingRoot, 'a root'), {
          valueSize: 8,
          tree: { kind: 'mappings', devId: d.devId },
          onLeaf: (n) => {
            for (let i = 0; i < n.nrEntries; i++) (n.location === leaf.block ? inLeaf : elsewhere).add(n.dataBlock(i));
          },
        });
      }
    } finally {
      md.close();
    }
    const orphaned = [...inLeaf].filter((b) => !elsewhere.has(b)).length;
    expect(orphaned).toBeGreaterThan(0);
    const r = dmthin('check', leafMeta);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `the ${orphaned} data blocks counted used and mapped by nothing (leaked, or held by lost nodes only) may hold the lost mappings' data`,
    );
    expect(r.stderr).toMatch(/save them first; dmthin doctor --metadata \S*leaf\.meta names which the repair leaves unmapped[^\n]*\nto rebuild it/);
  });

  it('export of a device the damage does not touch is whole and exits 0', () => {
    const a = tmp.path('good4.img');
    const b = tmp.path('same4.img');
    expect(dmthin('export', '--metadata', healthy, '--data', data, '--dev-id', '4', '-o', a).code).toBe(0);
    const r = dmthin('export', '--metadata', leafMeta, '--data', data, '--dev-id', '4', '-o', b);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });
});

describe('read commands on a destroyed details tree and a destroyed superblock', () => {
  for (const [what, get] of [
    ['details tree', () => detailsMeta],
    ['superblock', () => superMeta],
  ] as const) {
    it(`${what}: every read command fails in one line naming dmthin doctor, stdout empty, no file left`, () => {
      const meta = get();
      expectRefusal(dmthin('dump', meta), meta);
      expectRefusal(dmthin('ls', meta), meta);
      expectRefusal(dmthin('delta', meta, '--snap1', '1', '--snap2', '4'), meta);
      expectRefusal(dmthin('rmap', meta, '--region', '0..10'), meta);
      const html = tmp.path(`${what}.html`);
      expectRefusal(dmthin('report', meta, '-o', html), meta);
      expect(existsSync(html)).toBe(false);
      const img = tmp.path(`${what}.img`);
      const r = dmthin('export', '--metadata', meta, '--data', data, '--dev-id', '1', '-o', img);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`dmthin doctor --metadata ${meta} --data ${data}`);
      expect(existsSync(img)).toBe(false);
    });
  }
});

describe('a dump larger than the output buffer, its last leaf destroyed', () => {
  it('dump and delta to standard output print nothing, not the megabytes before the leaf', () => {
    // Two devices of 30000 single mappings each (no runs to coalesce): about 4 MiB of XML.
    const n = 30000;
    const lines = ['<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="60010">'];
    for (const dev of [1, 2]) {
      lines.push(`  <device dev_id="${dev}" mapped_blocks="${n}" transaction="0" creation_time="0" snap_time="0">`);
      for (let i = 0; i < n; i++) lines.push(`    <single_mapping origin_block="${2 * i}" data_block="${(dev - 1) * n + (n - 1 - i)}" time="0"/>`);
      lines.push('  </device>');
    }
    lines.push('</superblock>');
    const xml = tmp.path('big.xml');
    writeFileSync(xml, `${lines.join('\n')}\n`);
    const meta = tmp.path('big.meta');
    writeFileSync(meta, Buffer.alloc(8 << 20));
    expect(dmthin('restore', '-i', xml, '-o', meta).code).toBe(0);
    const whole = dmthin('dump', meta);
    expect(whole.code).toBe(0);
    expect(whole.stdout.length).toBeGreaterThan(2 << 20);
    const last = must(leavesOf(meta, 2).at(-1), 'device 2 last leaf');
    patchBlock(meta, last.block, (d) => {
      d[100] ^= 0xff;
    });
    expectRefusal(dmthin('dump', meta), meta);
    expectRefusal(dmthin('dump', '--format', 'json', meta), meta);
    expectRefusal(dmthin('delta', meta, '--snap1', '1', '--snap2', '2'), meta);
    // Device 1 alone is whole: dumped as before.
    const one = dmthin('dump', '--dev-id', '1', meta);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('</superblock>');
  });
});
