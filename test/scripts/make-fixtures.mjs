#!/usr/bin/env node
// Makes the kernel metadata fixtures in fixtures/ on a real kernel: here if
// this kernel has dm-thin (as root), otherwise in the VM harness. Run with
// `npm run make-fixtures` after `npm run build`. The fixtures are metadata
// files and LVM PV images (xz-compressed) plus what the kernel (and LVM)
// reported while the pool ran.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { runOnKernel } = await import('./kernel-run.mjs');
// `npm run make-fixtures -- generations` makes only the fixtures named.
// Metadata (.meta), PV images (.pv) and pool data (.data) are kept xz'ed.
const names = process.argv.slice(2);
const out = await runOnKernel(root, join(root, 'test', 'kernel', 'guest', 'make-fixtures.sh'), 'fixtures-', names.length ? [names.join(' ')] : []);
const dest = join(root, 'fixtures');
mkdirSync(dest, { recursive: true });
for (const f of readdirSync(out)) {
  if (f.endsWith('.meta') || f.endsWith('.pv') || f.endsWith('.data')) {
    execFileSync('sh', ['-c', `xz -9e -T1 -c "${join(out, f)}" > "${join(dest, `${f}.xz`)}"`]);
    console.log(`fixtures/${f}.xz`);
  } else if (f.endsWith('.facts') || f.endsWith('.expected.json')) {
    copyFileSync(join(out, f), join(dest, f));
    console.log(`fixtures/${f}`);
  }
}
