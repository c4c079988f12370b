/**
 * Kernel-made fixtures: the project's own (fixtures/, made by
 * `npm run make-fixtures` on a real kernel; always in a clone) and the
 * optional external corpora in ../shared/fixtures, unpacked into a scratch
 * directory on demand.
 */
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { unpack } from '../../src/pack/pack.js';
import { projectRoot, sharedFixtures, xzDecompress } from './env.js';

/**
 * Kernel-made metadata with snapshots sharing subtrees, a snapshot of a
 * snapshot, a deleted thin and a held metadata snapshot: the project's own
 * fixture (see fixtures/snapshots.facts for what the kernel reported).
 */
export const kernelFixture = join(projectRoot, 'fixtures', 'snapshots.meta.xz');
/** The same kind of pool made by another kernel (6.1), in the optional shared corpus. */
export const sharedKernelFixture = join(sharedFixtures, 'kernel-6.1-snapshots-heldroot.meta.xz');
export const tptTestdata = join(sharedFixtures, 'tpt-testdata');

export function haveSharedKernelFixture(): boolean {
  return existsSync(sharedKernelFixture);
}

export function tptPacks(): string[] {
  if (!existsSync(tptTestdata)) return [];
  return readdirSync(tptTestdata)
    .filter((n) => n.endsWith('.pack'))
    .sort()
    .map((n) => join(tptTestdata, n));
}

export function unpackKernelFixture(dir: string): string {
  const out = join(dir, 'kernel-snapshots.meta');
  if (!existsSync(out)) xzDecompress(kernelFixture, out);
  return out;
}

export function unpackSharedKernelFixture(dir: string): string {
  const out = join(dir, 'kernel-6.1.meta');
  if (!existsSync(out)) xzDecompress(sharedKernelFixture, out);
  return out;
}

/** Unpacks a thin_metadata_pack file with dmthin's own unpack (tested against thin_metadata_unpack in test/pack). */
export function unpackTpt(pack: string, dir: string): string {
  const out = join(dir, `${basename(pack, '.pack')}.bin`);
  if (!existsSync(out)) unpack(pack, out);
  return out;
}

/**
 * The two PVs of the VG lvm2 made across two disks (fixtures/lvm-striped-*:
 * linear, striped and thin LVs, a pool striped over both), unpacked into
 * `path(name)`: [pv0, pv1].
 */
export function unpackStripedPvs(path: (name: string) => string): [string, string] {
  const [pv0, pv1] = [path('pv0'), path('pv1')];
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-striped-1.pv.xz'), pv0);
  xzDecompress(join(projectRoot, 'fixtures', 'lvm-striped-2.pv.xz'), pv1);
  return [pv0, pv1];
}

/**
 * A fresh copy of a kernel-made Docker tree at `root`, its pool's metadata
 * and data files unpacked where Docker keeps them: fixtures/docker (laid out
 * as Docker's driver would), or fixtures/docker-real (made by dockerd itself).
 */
export function unpackDockerTree(root: string, fixtureDir: 'docker' | 'docker-real' = 'docker'): string {
  const fixture = join(projectRoot, 'fixtures', fixtureDir);
  cpSync(join(fixture, 'tree'), root, { recursive: true });
  const files = join(root, 'devicemapper', 'devicemapper');
  mkdirSync(files, { recursive: true });
  xzDecompress(join(fixture, 'metadata.xz'), join(files, 'metadata'));
  xzDecompress(join(fixture, 'data.xz'), join(files, 'data'));
  return root;
}

export interface ContainerdHost {
  /** containerd's root: io.containerd.metadata.v1.bolt/meta.db, and the snapshotter's root at its default place under it. */
  root: string;
  snapshotterRoot: string;
  config: string;
  metadata: string;
  data: string;
}

/**
 * fixtures/containerd-real laid out as on the host containerd ran on (its
 * stores where containerd keeps them by default), with the pool's loop
 * files beside: what an examiner copies off a dead host.
 */
export function unpackContainerdHost(dir: string): ContainerdHost {
  const fixture = join(projectRoot, 'fixtures', 'containerd-real');
  const root = join(dir, 'containerd');
  const snapshotterRoot = join(root, 'io.containerd.snapshotter.v1.devmapper');
  mkdirSync(join(root, 'io.containerd.metadata.v1.bolt'), { recursive: true });
  mkdirSync(snapshotterRoot, { recursive: true });
  cpSync(join(fixture, 'meta.db'), join(root, 'io.containerd.metadata.v1.bolt', 'meta.db'));
  for (const f of ['metadata.db', 'ctdpool.db']) cpSync(join(fixture, f), join(snapshotterRoot, f));
  const metadata = join(dir, 'pool-metadata');
  const data = join(dir, 'pool-data');
  xzDecompress(join(fixture, 'pool-metadata.xz'), metadata);
  xzDecompress(join(fixture, 'pool-data.xz'), data);
  return { root, snapshotterRoot, config: join(fixture, 'config.toml'), metadata, data };
}
