#!/usr/bin/env node
// Makes the kernel metadata fixtures in fixtures/ on a real kernel: here if
// this kernel has dm-thin (as root), otherwise in the VM harness. Run with
// `npm run make-fixtures` after `npm run build`. The fixtures are metadata
// files (xz-compressed) plus what the kernel reported while the pool ran.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { makeScratch, runInVm } = await import(join(root, 'dist', 'src', 'vm', 'vm.js'));
const script = join(root, 'test', 'kernel', 'guest', 'make-fixtures.sh');
const scratch = makeScratch('fixtures-');
const out = join(scratch, 'out');
const hostDm = process.getuid?.() === 0 && /thin-pool/.test(spawnSync('dmsetup', ['targets'], { encoding: 'utf8' }).stdout ?? '');
if (hostDm) {
  execFileSync('sh', [script, root, out], { stdio: 'inherit' });
} else {
  const sh = join(scratch, 'run.sh');
  writeFileSync(sh, `exec sh "${script}" "${root}" "${out}" 2>&1\n`);
  const r = await runInVm(sh, { cwd: root, scratch, timeoutMs: 900_000, onLine: (l) => { if (!/^\[\s*\d+\.\d+\]/.test(l)) console.log(l); } });
  if (r.exitCode !== 0) throw new Error(`fixture script failed in the VM (exit ${r.exitCode})`);
}
const dest = join(root, 'fixtures');
mkdirSync(dest, { recursive: true });
for (const f of readdirSync(out)) {
  if (f.endsWith('.meta')) {
    execFileSync('sh', ['-c', `xz -9e -T1 -c "${join(out, f)}" > "${join(dest, `${f}.xz`)}"`]);
    console.log(`fixtures/${f}.xz`);
  } else if (f.endsWith('.facts')) {
    copyFileSync(join(out, f), join(dest, f));
    console.log(`fixtures/${f}`);
  }
}
