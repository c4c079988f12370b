/**
 * What a crash leaves between containerd's three stores and the pool
 * (containerd #4790, #5646), made by changing the real stores of
 * fixtures/containerd-real the way each crash would (read with the bbolt
 * reader, one record changed, written back with the test writer), each
 * expected under its own code and no other.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BoltBucket, BoltKey } from '../../src/format/bbolt/bucket.js';
import { BoltDb } from '../../src/format/bbolt/db.js';
import { type BoltValueInput, buildBoltImage } from '../../src/format/bbolt/writer.js';
import { dmthin } from '../support/cli.js';
import { scratch } from '../support/env.js';
import { type ContainerdHost, unpackContainerdHost } from '../support/fixtures.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const host = unpackContainerdHost(tmp.dir);
const text = new TextDecoder();

type Tree = Map<BoltKey, BoltValueInput>;

function treeOf(b: BoltBucket): Tree {
  const out: Tree = new Map();
  for (const e of b.entries()) out.set(text.decode(e.key), e.bucket ? treeOf(e.bucket) : e.value);
  return out;
}

function readTree(file: string): Tree {
  const db = BoltDb.open(file);
  try {
    return treeOf(db.root());
  } finally {
    db.close();
  }
}

const sub = (t: Tree, ...path: string[]): Tree => path.reduce((b, k) => b.get(k) as Tree, t);

/** A copy of the host with one store rewritten by `change`; returns its root. */
function hostWith(name: string, store: 'meta' | 'snapshots' | 'devices', change: (t: Tree) => void): ContainerdHost {
  const root = tmp.path(`${name}/containerd`);
  mkdirSync(root, { recursive: true });
  cpSync(host.root, root, { recursive: true });
  const snapshotterRoot = join(root, 'io.containerd.snapshotter.v1.devmapper');
  const file = {
    meta: join(root, 'io.containerd.metadata.v1.bolt', 'meta.db'),
    snapshots: join(snapshotterRoot, 'metadata.db'),
    devices: join(snapshotterRoot, 'ctdpool.db'),
  }[store];
  const tree = readTree(file);
  change(tree);
  writeFileSync(file, buildBoltImage(tree));
  return { ...host, root, snapshotterRoot };
}

function problems(h: ContainerdHost): { code: number; codes: string[]; details: string[] } {
  const r = dmthin('containerd', 'ls', h.root, '--metadata', h.metadata, '--data', h.data, '--json');
  const j = JSON.parse(r.stdout) as { problems: Array<{ code: string; detail: string }> };
  return { code: r.code, codes: j.problems.map((p) => p.code).sort(), details: j.problems.map((p) => p.detail) };
}

const deviceJson = (o: object) => JSON.stringify(o);

describe('containerd ls names each disagreement once, under its code', () => {
  it('the stores rewritten unchanged read as the real ones: no problems', () => {
    const h = hostWith('same', 'devices', () => {});
    expect(problems(h)).toMatchObject({ code: 0, codes: [] });
  });

  it('a device left Creating, and one Faulty with its error', () => {
    const h = hostWith('states', 'devices', (t) => {
      const d = sub(t, 'devices');
      d.set('ctdpool-snap-5', deviceJson({ device_id: 5, size: 67108864, name: 'ctdpool-snap-5', parent_name: 'ctdpool-snap-2', state: 1, error: '' }));
      d.set(
        'ctdpool-snap-6',
        deviceJson({ device_id: 6, size: 67108864, name: 'ctdpool-snap-6', parent_name: 'ctdpool-snap-2', state: 13, error: 'activate failed' }),
      );
    });
    const p = problems(h);
    expect(p.code).toBe(1);
    expect(p.codes).toEqual(['device-error', 'device-faulty', 'device-unsettled']);
    expect(p.details.join('\n')).toMatch(/ctdpool-snap-5 \(thin 5\) was left Creating.*marks it Faulty when it next starts/);
    expect(p.details.join('\n')).toMatch(/ctdpool-snap-6 \(thin 6\) is Faulty.*could not roll it back/);
  });

  it('a snapshot whose device record is gone: its thin is one no record knows', () => {
    const h = hostWith('nodevice', 'devices', (t) => sub(t, 'devices').delete('ctdpool-snap-6'));
    const p = problems(h);
    expect(p.codes).toEqual(['snapshot-without-device', 'thin-unknown']);
    expect(p.details.join('\n')).toMatch(/snapshot db \(namespace default\).*no device ctdpool-snap-6/);
    expect(p.details.join('\n')).toMatch(/thin 6 \(\d+ bytes mapped\) is in the pool but no device record/);
  });

  it('a device record whose thin the pool lacks, of a snapshot no store has', () => {
    const h = hostWith('extra', 'devices', (t) =>
      sub(t, 'devices').set('ctdpool-snap-99', deviceJson({ device_id: 99, size: 67108864, name: 'ctdpool-snap-99', parent_name: '', state: 10, error: '' })),
    );
    expect(problems(h).codes).toEqual(['device-not-in-pool', 'device-without-snapshot']);
  });

  it("a key in containerd's store that the snapshotter lacks", () => {
    const h = hostWith('nosnap', 'snapshots', (t) => sub(t, 'v1', 'snapshots').delete('default/5/web'));
    const p = problems(h);
    expect(p.codes).toEqual(['device-without-snapshot', 'not-in-snapshotter']);
    expect(p.details.join('\n')).toContain("snapshot web (namespace default) is in containerd's store as default/5/web");
  });

  it("a container whose snapshot containerd's store lost: the snapshotter's record is then an orphan", () => {
    const h = hostWith('nokey', 'meta', (t) => sub(t, 'v1', 'default', 'snapshots', 'devmapper').delete('db'));
    const p = problems(h);
    expect(p.codes).toEqual(['container-without-snapshot', 'snapshotter-orphan']);
    expect(p.details.join('\n')).toMatch(/container db \(namespace default\) names snapshot db/);
    expect(p.details.join('\n')).toMatch(/default\/6\/db .*garbage collector removes it/);
  });

  it('a store whose tree breaks: the break named with its page, the rest still listed, each loss it causes after it', () => {
    const root = tmp.path('broken/containerd');
    mkdirSync(root, { recursive: true });
    cpSync(host.root, root, { recursive: true });
    const file = join(root, 'io.containerd.snapshotter.v1.devmapper', 'metadata.db');
    const db = BoltDb.open(file);
    const rootPage = db.meta.root.root;
    db.close();
    const bytes = readFileSync(file);
    bytes.writeUInt16LE(0x10, rootPage * 4096 + 8); // the root leaf now says it is a freelist page
    writeFileSync(file, bytes);
    const r = dmthin('containerd', 'ls', root, '--metadata', host.metadata, '--data', host.data, '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as { snapshots: unknown[]; problems: Array<{ code: string; detail: string }> };
    expect(j.problems[0]).toMatchObject({ code: 'unreadable-record' });
    expect(j.problems[0].detail).toContain(`${file}: page ${rootPage}: expected a leaf or branch page`);
    expect(j.snapshots.length).toBeGreaterThan(0);
    expect(new Set(j.problems.slice(1).map((p) => p.code))).toEqual(new Set(['not-in-snapshotter', 'device-without-snapshot']));
  });

  it('a data file cut short, and metadata that is no metadata: each said once, and the header says which', () => {
    const small = tmp.path('small.data');
    writeFileSync(small, Buffer.alloc(1 << 20));
    const r = dmthin('containerd', 'ls', host.root, '--metadata', host.metadata, '--data', small, '--json');
    expect(r.code).toBe(1);
    const codes = (JSON.parse(r.stdout) as { problems: Array<{ code: string; detail: string }> }).problems;
    expect(codes.map((p) => p.code)).toEqual(['data-too-small']);
    expect(codes[0].detail).toContain(`${small} holds 1048576 bytes, less than the 8192 blocks of 65536 bytes`);
    const empty = tmp.path('empty.meta');
    writeFileSync(empty, Buffer.alloc(1 << 20));
    const e = dmthin('containerd', 'ls', host.root, '--metadata', empty, '--data', host.data);
    expect(e.code).toBe(1);
    expect(e.stdout).toContain(`pool ctdpool: its metadata ${empty} cannot be read`);
    expect(e.stdout.match(/damaged-metadata:/g)).toHaveLength(1);
  });

  it('a store that is not bbolt at all: one line naming the file and what was expected, exit 1', () => {
    const root = tmp.path('garbage/containerd');
    mkdirSync(root, { recursive: true });
    cpSync(host.root, root, { recursive: true });
    const file = join(root, 'io.containerd.snapshotter.v1.devmapper', 'metadata.db');
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const r = dmthin('containerd', 'ls', root);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toMatch(/page 0/);
    copyFileSync(join(host.snapshotterRoot, 'metadata.db'), file);
    expect(dmthin('containerd', 'ls', root).code).toBe(0);
  });
});
