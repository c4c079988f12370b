/** The shared fixtures (../shared/fixtures), unpacked into a scratch directory on demand. */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { oracle, sharedFixtures, tpt11, xzDecompress } from './env.js';

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

/** Unpacks a thin_metadata_pack file with the 1.1 oracle (until dmthin has its own unpack). */
export function unpackTpt(pack: string, dir: string): string {
  if (!tpt11) throw new Error('thin-provisioning-tools 1.1 missing');
  const out = join(dir, `${basename(pack, '.pack')}.bin`);
  if (!existsSync(out)) {
    const r = oracle('1.1', 'thin_metadata_unpack', ['-i', pack, '-o', out]);
    if (r.code !== 0) throw new Error(`thin_metadata_unpack ${pack}: ${r.stderr}`);
  }
  return out;
}
