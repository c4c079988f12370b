#!/usr/bin/env node
// Makes fixtures/docker/ on a real kernel (here if this kernel has dm-thin,
// as root; else in the VM): a Docker devicemapper tree built the way Docker's
// driver lays it out, with its metadata and data files xz-compressed, and
// facts.txt: md5 of what the kernel read from every recorded device.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { makeScratch, runInVm } = await import(join(root, 'dist', 'src', 'vm', 'vm.js'));
const script = join(root, 'test', 'kernel', 'guest', 'make-docker-tree.sh');
const scratch = makeScratch('docker-');
const out = join(scratch, 'out');
const hostDm = process.getuid?.() === 0 && /thin-pool/.test(spawnSync('dmsetup', ['targets'], { encoding: 'utf8' }).stdout ?? '');
if (hostDm) execFileSync('sh', [script, root, out], { stdio: 'inherit' });
else {
  const sh = join(scratch, 'run.sh');
  writeFileSync(sh, `exec sh "${script}" "${root}" "${out}" 2>&1\n`);
  const r = await runInVm(sh, { cwd: root, scratch, timeoutMs: 900_000, onLine: (l) => { if (!/^\[\s*\d+\.\d+\]/.test(l)) console.log(l); } });
  if (r.exitCode !== 0) throw new Error(`docker tree script failed in the VM (exit ${r.exitCode})`);
}
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
console.log(`fixtures/docker: ${existsSync(join(dest, 'data.xz')) ? 'written' : 'MISSING'}`);
