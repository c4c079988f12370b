/**
 * Nothing degrades silently under Docker (issue 23, item 7): with the
 * container layer's mapping leaf destroyed, `docker ls` names the damage
 * and `dmthin docker doctor ROOT` and exits 1; `docker export` writes that
 * leaf's blocks as zeros, lists them and exits 1; `docker send` to
 * standard output fails in one line with nothing printed; `docker doctor`
 * names the loss in Docker's terms and builds a kit both thin_checks accept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '../../src/thin/metadata.js';
import { BTreeTraversal } from '../../src/pdata/btree/traversal.js';
import { must } from '../../src/errors.js';
import { dmthin } from '../support/cli.js';
import { unpackDockerTree } from '../support/fixtures.js';
import { oracle, scratch, tpt09, tpt11 } from '../support/env.js';
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
/** The destroyed leaf's data blocks, and every data block the other leaves of the pool map (read from the undamaged metadata). */
let leafData: number[] = [];
const elsewhere = new Set<number>();

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
    for (const d of md.devices()) {
      if (d.mappingRoot === undefined) continue;
      new BTreeTraversal(md.reader).walk(d.mappingRoot, {
        valueSize: 8,
        tree: { kind: 'mappings', devId: d.devId },
        onLeaf: (n) => {
          const blocks = Array.from({ length: n.nrEntries }, (_, i) => n.dataBlock(i));
          if (n.location === leaf.block) leafData = blocks;
          else for (const b of blocks) elsewhere.add(b);
        },
      });
    }
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

  it("docker doctor: lost_mappings under the container's name, the leaf's keys lost, its data blocks the candidates, a kit both thin_checks accept and a plan in Docker's terms", () => {
    const kit = tmp.path('docker-kit');
    const r = dmthin('docker', 'doctor', root, '--json', '-o', kit);
    expect(r.code, r.stderr).toBe(1);
    const rep = JSON.parse(r.stdout) as {
      problems: Array<{ code: string; severity: string }>;
      devices: Array<{ device_id: number; name?: string; lost: Array<{ offset: number; length: number }> }>;
      candidates: Array<{ data_block: number; offset: number }>;
      plan: Array<{ step: string; command?: string }>;
    };
    expect(rep.problems.find((p) => p.code === 'lost_mappings')?.severity).toBe('fatal');
    const web = must(
      rep.devices.find((d) => d.device_id === 5),
      'the web container layer',
    );
    expect(web.name).toBe(`container web (layer ${WEB.slice(0, 12)})`);
    // Truth for what the repair gives back: thin_dump 0.9 of the kit's repaired metadata.
    const repaired = join(kit, 'repaired.meta');
    expect(existsSync(repaired)).toBe(true);
    const xml = tpt09 ? oracle('0.9', 'thin_dump', [repaired]).stdout : dmthin('dump', repaired).stdout;
    const mappedAfter = new Set<number>();
    const keysAfter = new Map<number, Set<number>>();
    for (const part of xml.split('<device ').slice(1)) {
      const keys = new Set<number>();
      keysAfter.set(Number(/dev_id="(\d+)"/.exec(part)?.[1]), keys);
      for (const m of part.matchAll(/origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"|origin_block="(\d+)" data_block="(\d+)"/g)) {
        const n = m[4] !== undefined ? 1 : Number(m[3]);
        for (let i = 0; i < n; i++) {
          keys.add(Number(m[4] ?? m[1]) + i);
          mappedAfter.add(Number(m[5] ?? m[2]) + i);
        }
      }
    }
    // Every key of the leaf is either given back by the repair or reported lost, never both.
    const lostAt = (v: number): boolean => web.lost.some((l) => l.offset <= v * bs && (v + 1) * bs <= l.offset + l.length);
    for (const v of leaf.keys) expect(lostAt(v) !== (keysAfter.get(5)?.has(v) ?? false), `virtual block ${v}`).toBe(true);
    expect(leaf.keys.some(lostAt)).toBe(true);
    // Candidates: the leaf's data blocks no other leaf maps, less what the repair maps again from older copies.
    const expected = [...new Set(leafData)].filter((b) => !elsewhere.has(b) && !mappedAfter.has(b)).sort((a, b) => a - b);
    expect(expected.length).toBeGreaterThan(0);
    expect(rep.candidates.map((c) => c.data_block).sort((a, b) => a - b)).toEqual(expected);
    for (const c of rep.candidates) expect(c.offset).toBe(c.data_block * bs);
    expect(readdirSync(join(kit, 'candidates')).length).toBe(expected.length);
    if (tpt09) expect(oracle('0.9', 'thin_check', [repaired]).code).toBe(0);
    if (tpt11) expect(oracle('1.1', 'thin_check', [repaired]).code).toBe(0);
    // Docker stopped before anything, the candidates saved before Docker starts again.
    const lines = rep.plan.map((p) => `${p.step}\n${p.command ?? ''}`);
    const stop = lines.findIndex((l) => /systemctl stop docker/.test(l));
    const save = lines.findIndex((l) => /candidate/.test(l) && /dd /.test(l));
    const start = lines.findIndex((l) => /systemctl start docker/.test(l));
    expect(stop).toBeGreaterThan(-1);
    expect(save).toBeGreaterThan(stop);
    expect(start).toBeGreaterThan(save);
    // The copy reads each candidate from the pool's data file at its block.
    const copy = lines[save];
    const dataFile = join(root, 'devicemapper', 'devicemapper', 'data');
    for (const b of expected)
      expect(
        copy.includes(`dd if=${dataFile} of=data-block-${b}.bin bs=${bs} skip=${b} count=1`) || (copy.includes(` ${b} `) && copy.includes(`bs=${bs} skip=$b`)),
      ).toBe(true);
  });
});
