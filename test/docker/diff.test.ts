/**
 * dmthin docker diff on the kernel-made Docker tree: each container against
 * its init layer, from the root Docker's devicemapper driver mounts
 * (/rootfs). The truth is debugfs's view of both devices' filesystems, as
 * the kernel wrote them (the exported images carry the kernel's md5), with
 * docker diff's rules applied (test/fs/images.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dmthin } from '../support/cli.js';
import { projectRoot, scratch, skipReason } from '../support/env.js';
import { unpackDockerTree } from '../support/fixtures.js';
import { debugfsBin, dockerDiffOracle } from '../fs/images.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());
const root = unpackDockerTree(tmp.path('docker'));
const facts = readFileSync(join(projectRoot, 'fixtures', 'docker', 'facts.txt'), 'utf8');
const kernelMd5 = (hash: string): string | undefined => new RegExp(`^${hash} \\d+ ([0-9a-f]{32})$`, 'm').exec(facts)?.[1];

/** A device's bytes as the kernel had them: exported, its md5 checked against the kernel's. */
function image(hash: string): string {
  const out = tmp.path(`${hash}.img`);
  const r = dmthin('docker', 'export', root, hash, '-o', out);
  expect(r.code, r.stderr).toBe(0);
  expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(kernelMd5(hash));
  return out;
}

describe.skipIf(skipReason(debugfsBin !== undefined, 'docker diff against debugfs: e2fsprogs is not installed'))('dmthin docker diff', () => {
  for (const [name, hash] of [
    ['web', '3c'.repeat(32)],
    ['db', '4d'.repeat(32)],
  ]) {
    it(`container ${name}: what docker diff's rules give from the two filesystems under /rootfs, paths from there`, () => {
      const truth = dockerDiffOracle(image(`${hash}-init`), image(hash))
        .filter((l) => l.slice(2).startsWith('/rootfs/'))
        .map((l) => `${l.slice(0, 2)}${l.slice(2 + '/rootfs'.length)}`)
        .sort();
      expect(truth.length).toBeGreaterThan(0);
      const r = dmthin('docker', 'diff', root, name);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n').sort()).toEqual(truth);
      const j = JSON.parse(dmthin('docker', 'diff', root, name, '--json').stdout) as { changes: Array<{ path: string }> };
      expect(j.changes.map((c) => c.path).every((p) => !p.startsWith('/rootfs'))).toBe(true);
    });
  }

  it('two devices that are not snapshot and origin (web against db): a path on both sides is changed, never added, as the oracle says', () => {
    const web = '3c'.repeat(32);
    const db = '4d'.repeat(32);
    const truth = dockerDiffOracle(image(web), image(db)).sort();
    const files = join(root, 'devicemapper', 'devicemapper');
    const r = dmthin('diff', join(files, 'metadata'), '--data', join(files, 'data'), '--snap1', '5', '--snap2', '7');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(truth);
  });

  it('a removed container (docker rm): its layer by thin id with --init, both read as recovery brings them back, as the oracle says of their bytes before removal', () => {
    // The kernel's md5 of each device before its removal (fixtures/docker/removed.txt): recovery must give those bytes whole.
    const removed = new Map(
      readFileSync(join(projectRoot, 'fixtures', 'docker', 'removed.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string]),
    );
    const files = join(root, 'devicemapper', 'devicemapper');
    const recovered = (id: string): string => {
      const out = tmp.path(`removed-${id}.img`);
      const e = dmthin('export', '--metadata', join(files, 'metadata'), '--data', join(files, 'data'), '--deleted', id, '-o', out, '--size', '32M');
      expect(e.code, e.stderr).toBe(0);
      expect(createHash('md5').update(readFileSync(out)).digest('hex')).toBe(removed.get(id));
      return out;
    };
    const truth = dockerDiffOracle(recovered('8'), recovered('9'))
      .filter((l) => l.slice(2).startsWith('/rootfs/'))
      .map((l) => `${l.slice(0, 2)}${l.slice(2 + '/rootfs'.length)}`)
      .sort();
    expect(truth).toContain('A /var/log/app.log');
    const r = dmthin('docker', 'diff', root, '9', '--init', '8');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(truth);
    expect(r.stderr).toMatch(/container layer thin 9 is a removed device: read as recovery brings it back, \d+ mapped blocks vouched for\n/);
    const j = JSON.parse(dmthin('docker', 'diff', root, '9', '--init', '8', '--json').stdout);
    expect(j.recovered.map((x: { device_id: number; withheld_blocks: number }) => [x.device_id, x.withheld_blocks])).toEqual([
      [8, 0],
      [9, 0],
    ]);
    // Without --init: which layer was its init, nothing left says; the message says how to give it.
    const n = dmthin('docker', 'diff', root, '9');
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/give its init layer's thin id too with --init ID/);
    // The raw form names the removed devices when an id is neither live nor removed.
    const x = dmthin('diff', join(files, 'metadata'), '--data', join(files, 'data'), '--snap1', '8', '--snap2', '99');
    expect(x.code).toBe(2);
    expect(x.stderr).toMatch(/^dmthin: --snap2: no thin device 99 .*removed devices whose trees survive: 8, 9\)\n$/);
    // The same through docker diff names its own arguments, not diff's flags.
    const y = dmthin('docker', 'diff', root, '99', '--init', '8');
    expect(y.code).toBe(2);
    expect(y.stderr).toMatch(/^dmthin: the removed container layer: no thin device 99 /);
    // A live layer is no removed container's init layer: refused, naming what it is.
    const z = dmthin('docker', 'diff', root, '9', '--init', '7');
    expect(z.code).toBe(2);
    expect(z.stderr).toMatch(/--init 7 is container db's container layer \(4d4d4d4d4d4d\), not a removed container's init layer/);
    // An unknown name may be a removed container's: the message says how to reach one.
    expect(dmthin('docker', 'diff', root, 'old').stderr).toMatch(/a removed container \(docker rm\) is known by its layer's thin id only: .*--init INIT_ID/);
  });

  it('an image layer or the base is not a container, an unknown name is none: one line naming the containers, exit 2', () => {
    const r = dmthin('docker', 'diff', root, 'base');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/web, db|db, web/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/not a container/);
    const n = dmthin('docker', 'diff', root, 'nosuch');
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/containers: (web, db|db, web)/);
    // The forms docker ls shows: a 12-character prefix, and PREFIX-init for an init layer.
    expect(dmthin('docker', 'diff', root, '3c3c3c3c3c3c').code).toBe(0);
    expect(dmthin('docker', 'export', root, '3c3c3c3c3c3c-init', '-o', tmp.path('init.img')).code).toBe(0);
  });
});
