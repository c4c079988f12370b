#!/usr/bin/env node
// Installs what the tests use, when it is missing and we may (root with
// apt-get), so that `npm test` alone sets up a fresh Debian machine: the two
// thin-provisioning-tools oracles (0.9, Debian 12's package; 1.1 via
// ../shared/tools/install-tpt11 into /opt/tpt-1.1), the VM harness (qemu,
// Debian's kernel, busybox), the tools the kernel scenarios run, and
// headless Chromium for the report test. Never fails the test run: tests
// that need something missing skip with a loud reason.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = process.getuid?.() === 0;
const say = (m) => process.stderr.write(`ensure-test-tools: ${m}\n`);

function has(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (process.env.DMTHIN_NO_INSTALL) process.exit(0);

// Debian package -> a file it installs (present = installed).
const PACKAGES = {
  'thin-provisioning-tools': '/usr/sbin/thin_check',
  'xz-utils': '/usr/bin/xz',
  'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
  'linux-image-amd64': '/usr/share/doc/linux-image-amd64',
  'busybox-static': '/bin/busybox',
  kmod: '/usr/bin/kmod',
  cpio: '/usr/bin/cpio',
  dmsetup: '/usr/sbin/dmsetup',
  e2fsprogs: '/usr/sbin/mke2fs',
  // The XFS reader's oracle (mkfs.xfs -p, xfs_db): test/fs/xfs-reader.test.ts.
  xfsprogs: '/usr/sbin/mkfs.xfs',
  time: '/usr/bin/time',
  // LVM running dmthin as its thin_* tools, in the VM (test/kernel/guest/lvm-tools.mjs).
  lvm2: '/sbin/lvm',
  'util-linux': '/usr/bin/fallocate',
  chromium: '/usr/bin/chromium',
  'fonts-dejavu-core': '/usr/share/fonts/truetype/dejavu',
  'groff-base': '/usr/bin/groff',
};
const missing = Object.entries(PACKAGES)
  .filter(([, file]) => !existsSync(file))
  .map(([p]) => p);
if (missing.length > 0) {
  if (isRoot && has('apt-get')) {
    say(`installing ${missing.join(' ')} (apt-get)`);
    try {
      execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    } catch {
      say('apt-get install failed: the tests that need these packages will skip');
    }
  } else {
    say(`missing ${missing.join(' ')} and not root with apt-get: the tests that need them will skip`);
  }
}

const installer = resolve(root, '..', 'shared', 'tools', 'install-tpt11');
if (!existsSync('/opt/tpt-1.1/thin_check')) {
  if (isRoot && existsSync(installer)) {
    say('installing thin-provisioning-tools 1.1 into /opt/tpt-1.1');
    try {
      execFileSync('bash', [installer], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      say('install-tpt11 failed: 1.1 oracle tests will skip');
    }
  } else {
    say(`/opt/tpt-1.1 missing and ${existsSync(installer) ? 'not root' : `${installer} absent`}: 1.1 oracle tests will skip`);
  }
}
