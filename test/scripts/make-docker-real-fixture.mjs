#!/usr/bin/env node
// Makes fixtures/docker-real/ with Debian 12's real dockerd 20.10
// (devicemapper, loop-lvm, ext4) in the VM, always: the guest script mounts
// over /etc and /sys/fs/cgroup, which it must never do to a host. Remake it with
//   npm run build && node test/scripts/make-docker-real-fixture.mjs
// (as root: the first run unpacks docker.io, containerd and runc from
// bookworm's .debs into /opt/docker-20.10; nothing is installed system-wide).
// The guest script, test/kernel/guest/make-docker-real.sh, says what the
// containers hold. The fixture: tree/ (the Docker root's small files: the
// driver's device records, the layer database, the containers' configs),
// data.xz and metadata.xz (the pool's loop files), diff-NAME.txt (what
// `docker diff NAME` printed, byte for byte), containers.txt (name, id),
// facts.txt (hash, thin id, md5 of every device the kernel read after
// dockerd stopped, and the pool's status) and removed.txt (the same for
// the removed container "job", read before `docker rm`).
import { execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGuest, unpackDebs } from './guest-fixture.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPT = '/opt/docker-20.10';
const DEBS = ['docker.io=20.10.24+dfsg1-1+deb12u1+b6', 'containerd=1.6.20~ds1-1+deb12u3', 'runc=1.1.5+ds1-1+deb12u1'];

// The Docker root's files dmthin reads, and small ones beside them; not the
// loop files (compressed apart), nor containerd's, buildkit's or the
// network's databases and content stores.
const KEEP = [/^devicemapper\/metadata\//, /^image\/devicemapper\//, /^containers\/[^/]+\/(config\.v2|hostconfig)\.json$/];

function copyTree(from, to) {
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const rel = relative(from, p);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size <= 65536 && KEEP.some((re) => re.test(rel))) {
        mkdirSync(dirname(join(to, rel)), { recursive: true });
        cpSync(p, join(to, rel));
      }
    }
  };
  walk(from);
}

unpackDebs(OPT, DEBS, join('usr', 'sbin', 'dockerd'));
const out = await runGuest(root, join(root, 'test', 'kernel', 'guest', 'make-docker-real.sh'), 'docker-real-');
const unpacked = join(out, 'unpacked');
mkdirSync(unpacked, { recursive: true });
execFileSync('tar', ['-C', unpacked, '-xSf', join(out, 'docker.tar')]);
const tree = join(unpacked, 'docker');
const dest = join(root, 'fixtures', 'docker-real');
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
const files = join(tree, 'devicemapper', 'devicemapper');
for (const f of ['metadata', 'data']) execFileSync('sh', ['-c', `xz -9 -T1 -c "${join(files, f)}" > "${join(dest, `${f}.xz`)}"`]);
copyTree(tree, join(dest, 'tree'));
for (const f of readdirSync(out).filter((n) => /^diff-.*\.txt$/.test(n))) cpSync(join(out, f), join(dest, f));
cpSync(join(out, 'containers'), join(dest, 'containers.txt'));
cpSync(join(out, 'facts'), join(dest, 'facts.txt'));
cpSync(join(out, 'removed'), join(dest, 'removed.txt'));
console.log(`fixtures/docker-real: written (scratch ${out})`);
