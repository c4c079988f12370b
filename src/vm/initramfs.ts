/**
 * Builds (once, then cached) the initramfs that boots Debian's kernel into
 * a guest that runs one script of ours: static busybox, the modules
 * dm-thin, loop, ext4 and virtio-9p need (insmod'ed in dependency order),
 * and an init that mounts the host's root read-only over 9p, a writable
 * scratch share, and chroots into the host's root to run the script.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

export const GUEST_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'dm-thin-pool', 'loop', 'ext4', 'xfs', 'crc32c_generic'];

/** Where built initramfs images are cached. */
export function cacheDir(): string {
  return process.env.DMTHIN_VM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dmthin', 'vm');
}

/** Kernel versions with both a vmlinuz in /boot and modules. */
export function installedKernels(): string[] {
  if (!existsSync('/boot')) return [];
  return readdirSync('/boot')
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join('/lib/modules', v, 'modules.dep')))
    .sort();
}

/** The modules to insmod, in order, for kernel `kver`. */
export function moduleList(kver: string): string[] {
  const out: string[] = [];
  for (const m of GUEST_MODULES) {
    let text: string;
    try {
      text = execFileSync('modprobe', ['-S', kver, '--show-depends', m], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      if (m === 'xfs') continue; // optional: only needed to mount xfs images
      throw new Error(`modprobe --show-depends ${m} failed for kernel ${kver}: is kmod installed?`);
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[0] === 'insmod' && f[1] && !out.includes(f[1])) out.push(f[1]);
    }
  }
  return out;
}

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod "/modules/$m" 2>/dev/null; done
arg() { tr ' ' '\\n' < /proc/cmdline | sed -n "s/^dmthin\\.$1=//p"; }
SCRIPT=$(arg script); CWD=$(arg cwd); SCRATCH=$(arg scratch)
mkdir -p /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /newroot; then
  echo; echo "@@DMTHIN-EXIT 125 cannot mount the host root over 9p@@"; poweroff -f
fi
mount -t 9p -o trans=virtio,version=9p2000.L,rw,cache=none scratch "/newroot$SCRATCH" || { echo; echo "@@DMTHIN-EXIT 125 cannot mount the scratch share@@"; poweroff -f; }
mount --bind /dev /newroot/dev
mount --bind /proc /newroot/proc
mount --bind /sys /newroot/sys
mount -t tmpfs run /newroot/run 2>/dev/null
echo
echo "@@DMTHIN-GUEST-UP@@"
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR="$SCRATCH" DM_DISABLE_UDEV=1 DMTHIN_IN_VM=1 TERM=dumb /bin/sh -c "cd '$CWD' && exec /bin/sh '$SCRIPT'"
rc=$?
sync
echo
echo "@@DMTHIN-EXIT $rc@@"
poweroff -f
`;

/** Builds the initramfs for `kver` unless cached; returns its path. */
export function ensureInitramfs(kver: string): string {
  const dir = cacheDir();
  const out = join(dir, `initramfs-${kver}-v1.cpio.gz`);
  if (existsSync(out)) return out;
  if (!existsSync('/bin/busybox') && !existsSync('/usr/bin/busybox')) {
    throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  }
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, 'build-'));
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'modules', 'newroot']) mkdirSync(join(work, d));
    copyFileSync(existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', join(work, 'bin', 'busybox'));
    chmodSync(join(work, 'bin', 'busybox'), 0o755);
    const names: string[] = [];
    for (const ko of moduleList(kver)) {
      let name = basename(ko);
      if (name.endsWith('.xz')) {
        name = name.slice(0, -3);
        writeFileSync(join(work, 'modules', name), execFileSync('xz', ['-dc', ko], { maxBuffer: 1 << 28 }));
      } else if (name.endsWith('.zst')) {
        name = name.slice(0, -4);
        writeFileSync(join(work, 'modules', name), execFileSync('zstd', ['-dc', ko], { maxBuffer: 1 << 28 }));
      } else {
        copyFileSync(ko, join(work, 'modules', name));
      }
      names.push(name);
    }
    writeFileSync(join(work, 'modules.list'), `${names.join('\n')}\n`);
    writeFileSync(join(work, 'init'), INIT);
    chmodSync(join(work, 'init'), 0o755);
    const tmp = `${out}.tmp`;
    execFileSync('sh', ['-c', `cd "${work}" && find . | cpio -o -H newc --quiet | gzip -1 > "${tmp}"`]);
    renameSync(tmp, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
