/**
 * `npm run demo`: the seed walkthrough on a real kernel. On a host whose
 * kernel has device-mapper it runs here (as root); otherwise it boots the
 * VM harness and runs there, printing the guest's narration as it comes.
 * With --inside DIR it is the guest side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostHasDmThin, makeScratch, runInVm, vmAvailability } from '../vm/vm.js';
import { walkthrough } from './walkthrough.js';

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = resolve(here, '..', '..', '..');
const cli = join(projectRoot, 'dist', 'dmthin.cjs');

function installVmPackages(): void {
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return;
  process.stdout.write('Installing the VM harness packages (qemu-system-x86, linux-image-amd64, busybox-static)...\n');
  spawnSync(
    'sh',
    [
      '-c',
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 linux-image-amd64 busybox-static kmod cpio dmsetup e2fsprogs >/dev/null',
    ],
    { stdio: 'inherit' },
  );
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args[0] === '--inside') return walkthrough({ dir: args[1], cli });
  if (!existsSync(cli)) {
    process.stderr.write(`${cli} is missing: run npm run build first\n`);
    return 1;
  }
  if (hostHasDmThin()) {
    process.stdout.write('This kernel has dm-thin-pool: running the walkthrough here.\n');
    return walkthrough({ dir: makeScratch('demo-'), cli });
  }
  let avail = vmAvailability();
  if (!avail.ok) {
    installVmPackages();
    avail = vmAvailability();
  }
  if (!avail.ok) {
    process.stderr.write(
      `This kernel has no device-mapper, and the VM cannot run: ${avail.reason}.\nAs root on Debian, npm run demo installs what it needs; otherwise install it and try again.\n`,
    );
    return 1;
  }
  process.stdout.write(`This kernel has no device-mapper: booting Debian's ${avail.kernel} under qemu (software emulation) to run the walkthrough there.\n`);
  const scratch = makeScratch('demo-');
  const script = join(scratch, 'guest.sh');
  writeFileSync(script, `exec "${process.execPath}" "${fileURLToPath(import.meta.url)}" --inside "${scratch}/work"\n`);
  const r = await runInVm(script, {
    cwd: projectRoot,
    scratch,
    timeoutMs: 600_000,
    onLine: (l) => {
      if (!/^\[\s*\d+\.\d+\]/.test(l)) process.stdout.write(`${l}\n`);
    },
  });
  process.stdout.write(`\n(VM finished in ${(r.durationMs / 1000).toFixed(1)} s, exit ${r.exitCode}; its files are in ${scratch})\n`);
  return r.exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`demo: ${e.message}\n`);
    process.exit(1);
  },
);
