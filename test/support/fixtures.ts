/** The shared fixtures (../shared/fixtures), unpacked into a scratch directory on demand. */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { unpack } from '../../src/pack/pack.js';
import { sharedFixtures, xzDecompress } from './env.js';

export const kernelFixture = join(sharedFixtures, 'kernel-6.1-snapshots-heldroot.meta.xz');
export const tptTestdata = join(sharedFixtures, 'tpt-testdata');

export function haveKernelFixture(): boolean {
  return existsSync(kernelFixture);
}

export function tptPacks(): string[] {
  if (!existsSync(tptTestdata)) return [];
  return readdirSync(tptTestdata)
    .filter((n) => n.endsWith('.pack'))
    .sort()
    .map((n) => join(tptTestdata, n));
}

export function unpackKernelFixture(dir: string): string {
  const out = join(dir, 'kernel-6.1.meta');
  if (!existsSync(out)) xzDecompress(kernelFixture, out);
  return out;
}

/** Unpacks a thin_metadata_pack file with dmthin's own unpack (tested against thin_metadata_unpack in test/pack). */
export function unpackTpt(pack: string, dir: string): string {
  const out = join(dir, `${basename(pack, '.pack')}.bin`);
  if (!existsSync(out)) unpack(pack, out);
  return out;
}
