/**
 * dmthin containerd against containerd itself. fixtures/containerd-real was
 * made in the VM by Debian 12's containerd 1.6 and its devmapper
 * snapshotter (test/scripts/make-containerd-fixture.mjs): what `ctr` listed
 * (snapshots, containers) and the md5 of every thin device as the kernel
 * read it while containerd ran. Container "gone" was removed afterwards,
 * and containerd's garbage collector took the unreferenced view-1 with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch } from '../support/env.js';
import { unpackContainerdHost } from '../support/fixtures.js';

const fixture = join(projectRoot, 'fixtures', 'containerd-real');
const tmp = scratch();
afterAll(() => tmp.cleanup());
const host = unpackContainerdHost(tmp.dir);
const pool = ['--metadata', host.metadata, '--data', host.data];
const read = (name: string) => readFileSync(join(fixture, name), 'utf8');

/** `ctr snapshots ls` tables by namespace: key -> [parent, kind]. */
function ctrSnapshots(text: string): Map<string, Map<string, [string, string]>> {
  const out = new Map<string, Map<string, [string, string]>>();
  let ns = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('--- ')) ns = line.slice(4);
    else if (line.trim() && !line.startsWith('KEY')) {
      const cols = line.trim().split(/\s+/);
      const [key, parent, kind] = cols.length === 3 ? cols : [cols[0], '', cols[1]];
      if (!out.has(ns)) out.set(ns, new Map());
      out.get(ns)?.set(key, [parent, kind.toLowerCase()]);
    }
  }
  return out;
}

// What ctr listed after the removal: default's list taken then, other's unchanged by it.
const before = ctrSnapshots(read('snapshots.txt'));
const after = ctrSnapshots(`--- default\n${read('snapshots-after-rm.txt')}`);
const expected = new Map([...before, ...after]);
const kernelMd5 = new Map(
  read('devices.txt')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(String) as [string, string])
    .map(([id, md5]) => [Number(id), md5]),
);

interface Row {
  namespace: string;
  key: string;
  kind: string;
  parent: string | null;
  device_name: string | null;
  device_id: number | null;
  size: number | null;
  state: string | null;
  mapped_bytes: number | null;
  containers: string[];
  images: string[];
}

describe('containerd ls on what containerd 1.6 left', () => {
  const r = dmthin('containerd', 'ls', host.root, ...pool, '--json');
  const inv = JSON.parse(r.stdout) as { snapshots: Row[]; problems: unknown[]; pool: { read: boolean; metadata_ok: boolean } };

  it('lists exactly the snapshots ctr listed, with their parents and kinds, and finds nothing wrong', () => {
    expect(r.code, r.stderr).toBe(0);
    expect(inv.problems).toEqual([]);
    const got = new Map<string, Map<string, [string, string]>>();
    for (const s of inv.snapshots) {
      if (!got.has(s.namespace)) got.set(s.namespace, new Map());
      got.get(s.namespace)?.set(s.key, [s.parent ?? '', s.kind]);
    }
    expect(got).toEqual(expected);
    expect(inv.pool).toMatchObject({ read: true, metadata_ok: true });
  });

  it("names each container's snapshot as containerd created it (the key is the container id)", () => {
    const withContainers = inv.snapshots.filter((s) => s.containers.length).map((s) => `${s.namespace}/${s.key}:${s.containers.join(',')}`);
    // containers.txt is ctr's list before "gone" was removed.
    const listed = read('containers.txt')
      .split('\n')
      .reduce<{ ns: string; out: string[] }>(
        (acc, l) => {
          if (l.startsWith('--- ')) acc.ns = l.slice(4);
          else if (l.trim() && !l.startsWith('CONTAINER')) acc.out.push(`${acc.ns}/${l.split(/\s+/)[0]}`);
          return acc;
        },
        { ns: '', out: [] },
      )
      .out.filter((c) => c !== 'default/gone');
    expect(withContainers.sort()).toEqual(listed.map((c) => `${c}:${c.split('/')[1]}`).sort());
  });

  it("gives the image's layers (and only them) the image, through the unpacker's content labels", () => {
    for (const s of inv.snapshots) {
      expect(s.images, `${s.namespace}/${s.key}`).toEqual(s.key.startsWith('sha256:') ? ['docker.io/dmthin/ct:1'] : []);
    }
  });

  it('names every device the kernel read and no other, the active ones as dm named them', () => {
    const ids = inv.snapshots.map((s) => s.device_id).sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(ids).toEqual([...kernelMd5.keys()].sort((a, b) => a - b));
    const active = read('dmsetup-ls-after-rm.txt')
      .split('\n')
      .map((l) => l.split('\t')[0])
      .filter((n) => n.startsWith('ctdpool-snap-'))
      .sort();
    expect(
      inv.snapshots
        .filter((s) => s.state === 'Activated')
        .map((s) => s.device_name)
        .sort(),
    ).toEqual(active);
    const sectors = Number(read('device-sectors.txt').split(':')[1]);
    for (const s of inv.snapshots) expect(s.size).toBe(sectors * 512);
  });

  it('reads the stores alone without the pool, and says how to give it', () => {
    const t = dmthin('containerd', 'ls', host.root);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('pool ctdpool: not read');
    expect(t.stdout).toContain('--metadata M --data D');
    expect(t.stdout).toMatch(/default\s+web\s+active/);
  });
});

describe('containerd export against the kernel', () => {
  it("rebuilds every snapshot's device byte for byte as the kernel read it, by key or by container id", () => {
    const out = tmp.path('snap.img');
    const r = dmthin('containerd', 'ls', host.root, ...pool, '--json');
    const rows = (JSON.parse(r.stdout) as { snapshots: Row[] }).snapshots;
    for (const s of rows) {
      const what = s.containers[0] ?? s.key;
      const e = dmthin('containerd', 'export', host.root, what, '-n', s.namespace, ...pool, '-o', out);
      expect(e.code, e.stderr).toBe(0);
      expect(statSync(out).size).toBe(s.size);
      const md5 = createHash('md5').update(readFileSync(out)).digest('hex');
      rmSync(out);
      expect(md5, `${s.namespace}/${s.key} (thin ${s.device_id})`).toBe(kernelMd5.get(s.device_id ?? -1));
    }
  });

  it('refuses a key in two namespaces without --namespace, naming both', () => {
    const key = [...(expected.get('other')?.keys() ?? [])].find((k) => k.startsWith('sha256:')) ?? '';
    const e = dmthin('containerd', 'export', host.root, key, ...pool, '-o', tmp.path('x.img'));
    expect(e.code).toBe(2);
    expect(e.stderr).toContain(`default/${key}`);
    expect(e.stderr).toContain(`other/${key}`);
    expect(e.stderr).toContain('--namespace');
  });

  it('refuses an unknown name listing the snapshots, and an export without the pool saying why', () => {
    const e = dmthin('containerd', 'export', host.root, 'nosuch', ...pool, '-o', tmp.path('x.img'));
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('no devmapper snapshot or container nosuch');
    expect(e.stderr).toContain('default/web');
    const n = dmthin('containerd', 'export', host.root, 'web', '-o', tmp.path('x.img'));
    expect(n.code).toBe(2);
    expect(n.stderr).toContain('--metadata M --data D');
  });

  it("never writes over one of the stores or the pool's files", () => {
    for (const input of [host.metadata, join(host.snapshotterRoot, 'ctdpool.db')]) {
      const before = readFileSync(input);
      const e = dmthin('containerd', 'export', host.root, 'web', ...pool, '-o', input);
      expect(e.code).toBe(2);
      expect(e.stderr).toContain(input);
      expect(readFileSync(input).equals(before)).toBe(true);
    }
  });
});

describe('where the stores are', () => {
  it("finds a root_path outside the root only when told, naming the dead host's path and the option", () => {
    // A root with containerd's store but the snapshotter's root elsewhere, as the fixture's config has it (/run/ct/devmapper).
    const bare = tmp.path('bare-root');
    mkdirSync(join(bare, 'io.containerd.metadata.v1.bolt'), { recursive: true });
    copyFileSync(join(host.root, 'io.containerd.metadata.v1.bolt', 'meta.db'), join(bare, 'io.containerd.metadata.v1.bolt', 'meta.db'));
    const r = dmthin('containerd', 'ls', bare, '--config', host.config);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dmthin: .*\/run\/ct\/devmapper.*--snapshotter-root DIR/);
    const ok = dmthin('containerd', 'ls', bare, '--config', host.config, '--snapshotter-root', host.snapshotterRoot);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("a directory that is not containerd's root is said first, in one line; the mount point of a dead host's disk is pointed to the root under it", () => {
    const r = dmthin('containerd', 'ls', tmp.path('empty-root'), '--snapshotter-root', host.snapshotterRoot);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/empty-root is not containerd's root: it has no io.containerd.metadata.v1.bolt\/meta.db/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    // The disk mounted at MNT, the root at MNT/run/ct/root as the config's root says.
    const mnt = tmp.path('mnt');
    mkdirSync(join(mnt, 'run', 'ct'), { recursive: true });
    cpSync(host.root, join(mnt, 'run', 'ct', 'root'), { recursive: true });
    const m = dmthin('containerd', 'ls', mnt, '--config', host.config);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain(`the config's root /run/ct/root is ${join(mnt, 'run', 'ct', 'root')} here: give that as ROOT`);
  });

  it('a config without the devmapper table, --metadata that is not there, and the pool files swapped: each refused, naming it', () => {
    const cfg = tmp.path('other.toml');
    writeFileSync(cfg, 'this is [not toml\n');
    const c = dmthin('containerd', 'ls', host.root, '--config', cfg);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`${cfg} has no devmapper snapshotter table`);
    const m = dmthin('containerd', 'ls', host.root, '--metadata', tmp.path('nosuch'));
    expect(m.code).toBe(2);
    expect(m.stderr).toContain(`cannot read --metadata ${tmp.path('nosuch')}`);
    const s = dmthin('containerd', 'doctor', host.root, '--metadata', host.data, '--data', host.metadata);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('swapped?');
  });
});

describe('containerd diff and send against what the guest script did', () => {
  // test/kernel/guest/make-containerd-real.sh's writes into each snapshot, as docker diff lists such changes.
  const wrote: Record<string, string[]> = {
    web: [
      'C /etc',
      'C /etc/app',
      'C /etc/app/config.ini',
      'A /index.html',
      'C /usr',
      'C /usr/share',
      'C /usr/share/doc',
      'C /usr/share/doc/pkg',
      'D /usr/share/doc/pkg/README',
      'C /var',
      'A /var/log',
      'A /var/log/web.log',
    ],
    db: ['C /var', 'C /var/lib', 'C /var/lib/data', 'A /var/lib/data/db.bin', 'A /var/lib/data/tables', 'A /var/lib/data/tables/t1.tbl'],
    'layer-2': ['C /etc', 'D /etc/motd', 'A /srv', 'A /srv/layer.txt'],
    'work-2': ['C /srv', 'A /srv/top.txt'],
    svc: ['C /etc', 'C /etc/motd'],
  };
  for (const [what, changes] of Object.entries(wrote)) {
    it(`${what}: exactly what was written into it, against its parent`, () => {
      const r = dmthin('containerd', 'diff', host.root, what, ...pool);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual([...changes].sort());
    });
  }

  it('refuses a bottom layer, saying there is nothing under it and what to use instead', () => {
    const bottom = [...(expected.get('default')?.entries() ?? [])].find(([, [parent]]) => parent === '')?.[0] ?? '';
    const r = dmthin('containerd', 'diff', host.root, bottom, '-n', 'default', ...pool);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bottom layer');
  });

  it("a container's image layer whole, then what the container wrote, received equal the kernel's bytes", () => {
    const top = [...(expected.get('default')?.entries() ?? [])].find(([key, [parent]]) => key.startsWith('sha256:') && parent.startsWith('sha256:'))?.[0] ?? '';
    const full = tmp.path('full.stream');
    const inc = tmp.path('inc.stream');
    const target = tmp.path('received.img');
    expect(dmthin('containerd', 'send', host.root, top, '-n', 'default', ...pool, '-o', full).code).toBe(0);
    expect(dmthin('receive', '-i', full, '-o', target).code).toBe(0);
    const ls = JSON.parse(dmthin('containerd', 'ls', host.root, ...pool, '--json').stdout) as { snapshots: Row[] };
    const id = (ns: string, key: string) => ls.snapshots.find((s) => s.namespace === ns && s.key === key)?.device_id ?? -1;
    const md5 = () => createHash('md5').update(readFileSync(target)).digest('hex');
    expect(md5()).toBe(kernelMd5.get(id('default', top)));
    const s = dmthin('containerd', 'send', host.root, 'web', '--base', top, '-n', 'default', ...pool, '-o', inc);
    expect(s.code, s.stderr).toBe(0);
    expect(dmthin('receive', '-i', inc, '-o', target).code).toBe(0);
    expect(md5()).toBe(kernelMd5.get(id('default', 'web')));
  });
});

describe('removed snapshots, against what the kernel read before the removal', () => {
  const beforeRm = new Map(
    read('devices-before-rm.txt')
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([id, md5]) => [Number(id), md5]),
  );
  const gone = [...beforeRm.keys()].filter((id) => !kernelMd5.has(id));
  const r = dmthin('containerd', 'ls', host.root, ...pool, '--deleted', '--json');
  const removed = (
    JSON.parse(r.stdout) as {
      removed: Array<{
        device_id: number;
        names: Array<{ namespace: string; key: string; kind: string; parent: string; evidence: string[] }>;
        unnamed: string | null;
      }>;
    }
  ).removed;

  it('finds exactly the thins the removal took (container gone, and the view the collector took with it)', () => {
    expect(r.code, r.stderr).toBe(0);
    expect(removed.map((x) => x.device_id).sort((a, b) => a - b)).toEqual(gone.sort((a, b) => a - b));
  });

  it("names the view by the records left in the stores' free pages, and says of the other that none survives", () => {
    const view = removed.find((x) => x.names.length);
    expect(view?.names).toEqual([expect.objectContaining({ namespace: 'default', key: 'view-1', kind: 'view', parent: 'layer-2' })]);
    expect(view?.names[0].evidence.join(' ')).toMatch(/ctdpool\.db page \d+.*metadata\.db page \d+/);
    const other = removed.find((x) => !x.names.length);
    expect(other?.unnamed).toContain('known by its thin id only');
  });

  it('brings each back byte for byte as the kernel read it before the removal, by key or by thin id', () => {
    const out = tmp.path('removed.img');
    for (const x of removed) {
      const what = x.names[0]?.key ?? String(x.device_id);
      const e = dmthin('containerd', 'export', host.root, what, '--deleted', ...pool, '-o', out);
      expect(e.code, e.stderr).toBe(0);
      expect(createHash('md5').update(readFileSync(out)).digest('hex'), `thin ${x.device_id}`).toBe(beforeRm.get(x.device_id));
      rmSync(out);
    }
  });

  it('refuses a name no removed device has, listing those there are', () => {
    const e = dmthin('containerd', 'export', host.root, 'gone', '--deleted', ...pool, '-o', tmp.path('x.img'));
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('containerd ls --deleted');
    expect(e.stderr).toContain('default/view-1');
  });
});

describe('removed snapshots read as recovery brings them back', () => {
  it('diff --deleted: the view against the parent its record names (nothing written into it)', () => {
    const r = dmthin('containerd', 'diff', host.root, 'view-1', '--deleted', ...pool);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/default\/layer-2 \(thin \d+\) -> removed default\/view-1/);
  });

  it('diff --deleted of the container no record names: the likely parent offered with its numbers, then exactly what was written into it', () => {
    const gone = [
      ...new Map(
        read('devices-before-rm.txt')
          .trim()
          .split('\n')
          .map((l) => l.split(' ') as [string, string]),
      ).keys(),
    ]
      .map(Number)
      .find((id) => !kernelMd5.has(id) && id !== 11);
    const refused = dmthin('containerd', 'diff', host.root, String(gone), '--deleted', ...pool);
    expect(refused.code).toBe(2);
    const top = [...(expected.get('default')?.entries() ?? [])].find(([key, [parent]]) => key.startsWith('sha256:') && parent.startsWith('sha256:'))?.[0] ?? '';
    expect(refused.stderr).toContain(`the live device sharing the most of its blocks is default/${top}`);
    const r = dmthin('containerd', 'diff', host.root, String(gone), '--deleted', '--parent', top, '-n', 'default', ...pool);
    expect(r.code, r.stderr).toBe(0);
    // make-containerd-real.sh: mkdir -p var/cache/gone; big.bin written; etc/motd rewritten.
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(
      ['C /etc', 'C /etc/motd', 'C /var', 'A /var/cache', 'A /var/cache/gone', 'A /var/cache/gone/big.bin'].sort(),
    );
  });

  it("a damaged live leaf hides none of them: found, and the container's brought back as the kernel read it", () => {
    const meta = tmp.path('damaged.meta');
    writeFileSync(meta, readFileSync(host.metadata));
    // Block 34 of the fixture's metadata is a live mapping leaf every older top-level leaf names as a root.
    const bytes = readFileSync(meta);
    bytes.fill(0, 34 * 4096, 35 * 4096);
    writeFileSync(meta, bytes);
    const damaged = ['--metadata', meta, '--data', host.data];
    const ls = JSON.parse(dmthin('containerd', 'ls', host.root, ...damaged, '--deleted', '--json').stdout) as { removed: Array<{ device_id: number }> };
    expect(ls.removed.map((r) => r.device_id).sort((a, b) => a - b)).toEqual([7, 11]);
    const out = tmp.path('gone.img');
    expect(dmthin('containerd', 'export', host.root, '7', '--deleted', ...damaged, '-o', out).code).toBe(0);
    expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(read('devices-before-rm.txt').match(/^7 (\w+)$/m)?.[1]);
  });
});

describe('names as the tool prints them, and names in the wrong place', () => {
  const out = tmp.path('n.img');
  const ok = (...args: string[]) => {
    const r = dmthin('containerd', 'export', host.root, ...args, ...pool, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    return r.stderr;
  };
  it('NAMESPACE/KEY, a shortened sha256 key, a device name and a thin id each name the one snapshot', () => {
    const top = [...(expected.get('default')?.entries() ?? [])].find(([key, [parent]]) => key.startsWith('sha256:') && parent.startsWith('sha256:'))?.[0] ?? '';
    expect(ok(`default/${top}`)).toContain(`exported default/${top}`);
    expect(ok(top.slice(0, 19), '-n', 'other')).toContain(`exported other/${top}`);
    expect(ok('other/svc')).toContain('exported other/svc');
    const web = (JSON.parse(dmthin('containerd', 'ls', host.root, '--json').stdout) as { snapshots: Row[] }).snapshots.find((s) => s.key === 'web');
    expect(ok(String(web?.device_name))).toContain('exported default/web');
    expect(ok(String(web?.device_id))).toContain('exported default/web');
  });

  it('a removed one without --deleted, a live one with it, one in another namespace: each refusal says which', () => {
    const e = (...args: string[]) => dmthin('containerd', 'export', host.root, ...args, ...pool, '-o', out);
    expect(e('view-1').stderr).toMatch(/^dmthin: view-1 is a removed snapshot \(thin 11\): add --deleted$/m);
    expect(e('web', '--deleted').stderr).toMatch(/^dmthin: default\/web is a live snapshot \(thin \d+\): drop --deleted$/m);
    expect(e('web', '-n', 'other').stderr).toMatch(/^dmthin: web is in namespace default, not other$/m);
    for (const r of [e('view-1'), e('web', '--deleted'), e('web', '-n', 'other')]) expect(r.code).toBe(2);
  });

  it("finds the snapshotter's root beside ROOT where the config has it beside its root (a copy of the host's tree)", () => {
    // The config: root /run/ct/root, root_path /run/ct/devmapper.
    const copy = tmp.path('copy/run/ct');
    mkdirSync(copy, { recursive: true });
    cpSync(host.root, join(copy, 'root'), { recursive: true });
    rmSync(join(copy, 'root', 'io.containerd.snapshotter.v1.devmapper'), { recursive: true });
    cpSync(host.snapshotterRoot, join(copy, 'devmapper'), { recursive: true });
    const r = dmthin('containerd', 'ls', join(copy, 'root'), '--config', host.config);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/default\s+web\s+active/);
  });
});
