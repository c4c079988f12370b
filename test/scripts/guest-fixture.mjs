// What the scripts that make fixtures with a real daemon in the VM share:
// bookworm's .debs unpacked into /opt (nothing installed system-wide), and
// a guest script run in the VM with its output kept in a scratch directory.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Unpacks `debs` (name=version) into `opt` unless `probe` (a path inside it) exists; as root. */
export function unpackDebs(opt, debs, probe) {
  if (existsSync(join(opt, probe))) return;
  if (process.getuid?.() !== 0) throw new Error(`${opt} is missing and only root can unpack ${debs.join(', ')} there`);
  const dl = execFileSync('mktemp', ['-d', '/var/tmp/fixture-debs-XXXXXX'], { encoding: 'utf8' }).trim();
  try {
    execFileSync('apt-get', ['download', ...debs], { cwd: dl, stdio: 'inherit' });
    mkdirSync(opt, { recursive: true });
    for (const deb of readdirSync(dl).filter((n) => n.endsWith('.deb'))) execFileSync('dpkg-deb', ['-x', join(dl, deb), opt]);
  } finally {
    rmSync(dl, { recursive: true, force: true });
  }
}

/** Runs `script ROOT OUT` in the VM (2 GiB, 30 minutes at most) and returns OUT, the guest's output directory. */
export async function runGuest(root, script, prefix) {
  const { makeScratch, runInVm } = await import(join(root, 'dist', 'src', 'vm', 'vm.js'));
  const scratch = makeScratch(prefix);
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
