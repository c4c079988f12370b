#!/usr/bin/env node
// Makes fixtures/docker/ on a real kernel (here if this kernel has dm-thin,
// as root; else in the VM): a Docker devicemapper tree built the way Docker's
// driver lays it out, with its metadata and data files xz-compressed, and
// facts.txt: md5 of what the kernel read from every recorded device, and
// removed.txt: of the removed container's devices before their removal.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { runOnKernel } = await import('./kernel-run.mjs');
const out = await runOnKernel(root, join(root, 'test', 'kernel', 'guest', 'make-docker-tree.sh'), 'docker-');
const dest = join(root, 'fixtures', 'docker');
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
const tree = join(out, 'docker');
const files = join(tree, 'devicemapper', 'devicemapper');
for (const f of ['metadata', 'data']) {
  execFileSync('sh', ['-c', `xz -9 -T1 -c "${join(files, f)}" > "${join(dest, `${f}.xz`)}"`]);
  rmSync(join(files, f));
}
cpSync(tree, join(dest, 'tree'), { recursive: true });
cpSync(join(out, 'facts'), join(dest, 'facts.txt'));
cpSync(join(out, 'removed'), join(dest, 'removed.txt'));
console.log(`fixtures/docker: ${existsSync(join(dest, 'data.xz')) ? 'written' : 'MISSING'}`);
