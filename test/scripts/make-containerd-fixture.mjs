#!/usr/bin/env node
// Makes fixtures/containerd-real/ with Debian 12's real containerd 1.6 and
// its devmapper snapshotter in the VM, always: the guest script makes a
// thin pool and runs a daemon, which it must never do on a host. Remake it with
//   npm run build && node test/scripts/make-containerd-fixture.mjs
// (as root: the first run unpacks bookworm's containerd .deb into
// /opt/containerd-1.6; nothing is installed system-wide). The guest script,
// test/kernel/guest/make-containerd-real.sh, says what the snapshots hold.
// The fixture: meta.db (containerd's store), metadata.db and ctdpool.db (the
// snapshotter's), config.toml, pool-metadata.xz and pool-data.xz (the
// pool's loop files), and what containerd and the kernel said:
// snapshots.txt, snapshot-info.txt, containers.txt, container-info.txt,
// images.txt (ctr's own output), devices.txt (thin id, md5 of each device
// as the kernel read it while containerd ran), devices-before-rm.txt and
// removed.txt (the same before container "gone" was removed, and what went).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPT = '/opt/containerd-1.6';
const DEBS = ['containerd=1.6.20~ds1-1+deb12u3'];

function ensureContainerd() {
  if (existsSync(join(OPT, 'usr', 'bin', 'containerd'))) return;
  if (process.getuid?.() !== 0) throw new Error(`${OPT} is missing and only root can unpack containerd there`);
  const dl = execFileSync('mktemp', ['-d', '/var/tmp/containerd-debs-XXXXXX'], { encoding: 'utf8' }).trim();
  try {
    execFileSync('apt-get', ['download', ...DEBS], { cwd: dl, stdio: 'inherit' });
    mkdirSync(OPT, { recursive: true });
    for (const deb of readdirSync(dl).filter((n) => n.endsWith('.deb'))) execFileSync('dpkg-deb', ['-x', join(dl, deb), OPT]);
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
}

async function runGuest(script) {
  const { makeScratch, runInVm } = await import(join(root, 'dist', 'src', 'vm', 'vm.js'));
  const scratch = makeScratch('containerd-real-');
  const out = join(scratch, 'out');
  const sh = join(scratch, 'run.sh');
  writeFileSync(sh, `exec sh "${script}" "${root}" "${out}" 2>&1\n`);
  const r = await runInVm(sh, {
    cwd: root,
    scratch,
    memoryMiB: 2048,
    timeoutMs: 1_800_000,
    onLine: (l) => {
      if (!/^\[\s*\d+\.\d+\]/.test(l)) console.log(l);
    },
  });
  console.log(`VM: ${Math.round(r.durationMs / 1000)} s`);
  if (r.exitCode !== 0) throw new Error(`${script} failed in the VM (exit ${r.exitCode}); its output is in ${scratch}`);
  return out;
}

ensureContainerd();
const out = await runGuest(join(root, 'test', 'kernel', 'guest', 'make-containerd-real.sh'));
const unpacked = join(out, 'unpacked');
mkdirSync(unpacked, { recursive: true });
execFileSync('tar', ['-C', unpacked, '-xSf', join(out, 'ct.tar')]);
const dest = join(root, 'fixtures', 'containerd-real');
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
for (const f of ['metadata', 'data']) execFileSync('sh', ['-c', `xz -9 -T1 -c "${join(unpacked, 'pool', f)}" > "${join(dest, `pool-${f}.xz`)}"`]);
cpSync(join(unpacked, 'root', 'io.containerd.metadata.v1.bolt', 'meta.db'), join(dest, 'meta.db'));
for (const f of ['metadata.db', 'ctdpool.db']) cpSync(join(unpacked, 'devmapper', f), join(dest, f));
for (const f of readdirSync(out).filter((n) => /\.(txt|toml)$/.test(n))) cpSync(join(out, f), join(dest, f));
console.log(`fixtures/containerd-real: written (scratch ${out})`);
