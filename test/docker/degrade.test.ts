/**
 * Nothing degrades silently under Docker (issue 23, item 7): with the
 * container layer's mapping leaf destroyed, `docker ls` names the damage
 * and `dmthin docker doctor ROOT` and exits 1; `docker export` writes that
 * leaf's blocks as zeros, lists them and exits 1; `docker send` to
 * standard output fails in one line with nothing printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '../../src/thin/metadata.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { must } from '../../src/errors.js';
import { dmthin } from '../support/cli.js';
import { unpackDockerTree } from '../support/fixtures.js';
import { scratch } from '../support/env.js';
import { patchBlock } from '../support/damage.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

/** A fresh copy of the Docker tree with its pool files unpacked. */
const tree = (name: string): string => unpackDockerTree(tmp.path(name));

const WEB = '3c'.repeat(32);
let healthy = '';
let root = '';
let leaf: { block: number; keys: number[] } = { block: -1, keys: [] };
let bs = 0;

beforeAll(() => {
  healthy = tree('healthy');
  root = tree('damaged');
  const meta = join(root, 'devicemapper', 'devicemapper', 'metadata');
  const md = Metadata.open(meta);
  try {
    bs = md.dataBlockBytes();
    const dev = must(
      md.devices().find((d) => d.devId === 5),
      'the web container layer, device 5',
    );
    const leaves: Array<{ block: number; keys: number[] }> = [];
    new BTreeTraversal(md.reader).walk(must(dev.mappingRoot, 'its root'), {
      valueSize: 8,
      tree: { kind: 'mappings', devId: 5 },
      onLeaf: (n) => {
        leaves.push({ block: n.location, keys: Array.from({ length: n.nrEntries }, (_, i) => n.key(i)) });
      },
    });
    leaf = leaves[0];
  } finally {
    md.close();
  }
  patchBlock(meta, leaf.block, (d) => {
    d[300] ^= 0xff;
  });
});

describe('a Docker pool with a destroyed mapping leaf', () => {
  it('docker ls names the damage and dmthin docker doctor, and exits 1', () => {
    const r = dmthin('docker', 'ls', root, '--json');
    expect(r.code).toBe(1);
    const inv = JSON.parse(r.stdout) as { problems: Array<{ kind: string; detail: string }> };
    const p = must(
      inv.problems.find((x) => x.kind === 'damaged-metadata'),
      'the damage',
    );
    expect(p.detail).toContain(`dmthin docker doctor ${root}`);
  });

  it('docker export writes the leaf’s blocks as zeros, lists them and exits 1', () => {
    const good = tmp.path('web-good.img');
    const lost = tmp.path('web-lost.img');
    expect(dmthin('docker', 'export', healthy, WEB, '-o', good).code).toBe(0);
    const r = dmthin('docker', 'export', root, WEB, '-o', lost, '--json');
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as { lost: Array<{ from: number; to: number }>; damage: { doctor: string } };
    expect(out.damage.doctor).toBe(`dmthin docker doctor ${root}`);
    const a = readFileSync(good);
    const b = readFileSync(lost);
    expect(b.length).toBe(a.length);
    const zero = Buffer.alloc(bs);
    for (const v of leaf.keys) {
      expect(b.subarray(v * bs, (v + 1) * bs).equals(zero), `virtual block ${v} reads as zeros`).toBe(true);
      expect(out.lost.some((l) => l.from <= v * bs && (v + 1) * bs <= l.to)).toBe(true);
    }
    const keys = new Set(leaf.keys);
    for (let v = 0; v < a.length / bs; v++) {
      if (!keys.has(v)) expect(b.subarray(v * bs, (v + 1) * bs).equals(a.subarray(v * bs, (v + 1) * bs)), `virtual block ${v}`).toBe(true);
    }
  });

  it('docker send to standard output fails in one line naming docker doctor, printing nothing', () => {
    const r = dmthin('docker', 'send', root, WEB, '-o', '-');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`dmthin docker doctor ${root}`);
  });
});
