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
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGuest, unpackDebs } from './guest-fixture.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPT = '/opt/containerd-1.6';
const DEBS = ['containerd=1.6.20~ds1-1+deb12u3'];

unpackDebs(OPT, DEBS, join('usr', 'bin', 'containerd'));
const out = await runGuest(root, join(root, 'test', 'kernel', 'guest', 'make-containerd-real.sh'), 'containerd-real-');
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
