/**
 * dmthin docker diff against dockerd itself. fixtures/docker-real was made
 * in the VM by Debian 12's dockerd 20.10 (devicemapper, loop-lvm, ext4;
 * test/scripts/make-docker-real-fixture.mjs): containers changed by
 * `docker run` and by `docker cp`, and what `docker diff` printed for each,
 * byte for byte. The pool's devices read through dmthin have the md5 the
 * kernel read after dockerd stopped.
 *
 * Docker prints its changes in go-archive's walk order: a directory's line
 * before what it holds, its deleted entries after all it still holds, and
 * siblings in Go's map order, which is random from one call to the next.
 * So dmthin's lines are compared with Docker's as printed once siblings are
 * put in one fixed order, and Docker's own lines are checked to be such a
 * walk (so that nothing but siblings was reordered).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch } from '../support/env.js';
import { unpackDockerTree } from '../support/fixtures.js';

const fixture = join(projectRoot, 'fixtures', 'docker-real');
const tmp = scratch();
afterAll(() => tmp.cleanup());
const root = unpackDockerTree(tmp.path('docker'), 'docker-real');
const read = (name: string) => readFileSync(join(fixture, name), 'utf8');
const ids = new Map(
  read('containers.txt')
    .trim()
    .split('\n')
    .map((l) => l.split(' ') as [string, string]),
);
const removed = read('removed.txt');
const recorded = (name: string): string => read(`diff-${name}.txt`);
const lines = (text: string): string[] => text.split('\n').filter(Boolean);

const parent = (p: string): string => p.slice(0, p.lastIndexOf('/'));
const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/** The md5 of an exported image, which is then removed (each is 256 MiB). */
function md5Of(file: string): string {
  const sum = createHash('md5').update(readFileSync(file)).digest('hex');
  rmSync(file);
  return sum;
}

/** Whether `list` ("K /path" lines) is a depth-first walk as go-archive's: each line's directory listed before it (the root aside), each directory's lines right after it, its deleted entries after the rest. */
function isDockerWalk(list: string[]): boolean {
  const open: string[] = []; // the directories whose lines are still coming
  const deletedSeen = new Set<string>();
  const seen = new Set<string>();
  for (const line of list) {
    const [kind, path] = [line[0], line.slice(2)];
    const dir = parent(path);
    if (dir !== '' && !seen.has(dir)) return false;
    while (open.length > 0 && open[open.length - 1] !== dir) open.pop();
    if (dir !== '' && open.length === 0) return false;
    if (kind !== 'D' && deletedSeen.has(dir)) return false;
    if (kind === 'D') deletedSeen.add(dir);
    seen.add(path);
    open.push(path);
  }
  return true;
}

/** The same walk with each directory's entries in one fixed order: still there first, then deleted, each by name. */
function fixedSiblings(list: string[]): string[] {
  const kids = new Map<string, string[]>();
  for (const line of list) {
    const d = parent(line.slice(2));
    kids.set(d, [...(kids.get(d) ?? []), line]);
  }
  const rank = (l: string) => (l[0] === 'D' ? 1 : 0);
  const cmp = (a: string, b: string) => rank(a) - rank(b) || Buffer.compare(Buffer.from(base(a.slice(2))), Buffer.from(base(b.slice(2))));
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const l of [...(kids.get(dir) ?? [])].sort(cmp)) {
      out.push(l);
      walk(l.slice(2));
    }
  };
  walk('');
  return out;
}

describe('dmthin docker diff against what dockerd 20.10 printed', () => {
  it('the fixture: each container device read through dmthin has the md5 the kernel read', () => {
    const facts = lines(read('facts.txt')).filter((l) => !l.startsWith('pool '));
    expect(facts.length).toBeGreaterThanOrEqual(5);
    for (const l of facts) {
      const [hash, , md5] = l.split(' ');
      const out = tmp.path(`${hash}.img`);
      const r = dmthin('docker', 'export', root, hash, '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(md5Of(out), hash).toBe(md5);
    }
  });

  for (const name of ['web', 'db']) {
    describe(`container ${name}`, () => {
      const docker = lines(recorded(name));

      it("docker's own lines are go-archive's walk (only siblings can come in another order)", () => {
        expect(docker.length).toBeGreaterThan(5);
        expect(isDockerWalk(docker)).toBe(true);
      });

      it('by name: exactly the lines docker diff printed, in its walk order', () => {
        const r = dmthin('docker', 'diff', root, name);
        expect(r.code, r.stderr).toBe(0);
        expect(lines(r.stdout)).toEqual(fixedSiblings(docker));
        expect(isDockerWalk(lines(r.stdout))).toBe(true);
      });

      it('by full id and by the 12-character prefix docker ps shows: the same lines', () => {
        const id = ids.get(name) ?? '';
        expect(id).toMatch(/^[0-9a-f]{64}$/);
        const byName = dmthin('docker', 'diff', root, name).stdout;
        for (const what of [id, id.slice(0, 12)]) {
          const r = dmthin('docker', 'diff', root, what);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toBe(byName);
        }
      });

      it('--json: the same kinds and paths in the same order', () => {
        const r = dmthin('docker', 'diff', root, name, '--json');
        expect(r.code, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout) as { filesystem: string; changes: Array<{ kind: string; path: string }> };
        expect(j.filesystem).toMatch(/^ext4/);
        const letter: Record<string, string> = { added: 'A', changed: 'C', deleted: 'D' };
        expect(j.changes.map((c) => `${letter[c.kind]} ${c.path}`)).toEqual(fixedSiblings(docker));
      });
    });
  }

  it("the removed container's devices (docker rm, blkdiscard off) come back whole by export --deleted: the md5 the kernel read before the removal", () => {
    const files = join(root, 'devicemapper', 'devicemapper');
    const gone = lines(removed);
    expect(gone).toHaveLength(2);
    for (const l of gone) {
      const [hash, id, md5] = l.split(' ');
      const out = tmp.path(`deleted-${id}.img`);
      const r = dmthin('export', '--metadata', join(files, 'metadata'), '--data', join(files, 'data'), '--deleted', id, '--size', '256M', '-o', out);
      expect(r.code, r.stderr).toBe(0);
      expect(md5Of(out), hash).toBe(md5);
    }
  });

  it('the removed container by its layer and init layer thin ids (--init): exactly the lines docker diff printed before docker rm', () => {
    const docker = lines(recorded('job'));
    expect(isDockerWalk(docker)).toBe(true);
    const [init, layer] = lines(removed).map((l) => l.split(' ')[1]);
    const r = dmthin('docker', 'diff', root, layer, '--init', init);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed device/);
    expect(lines(r.stdout)).toEqual(fixedSiblings(docker));
  });

  it('the removed container (docker rm) is not one of the containers any more: usage naming those left', () => {
    const id = ids.get('job') ?? '';
    expect(removed).toMatch(/-init \d+ [0-9a-f]{32}\n/);
    const r = dmthin('docker', 'diff', root, id);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/containers: (web, db|db, web)/);
  });
});
