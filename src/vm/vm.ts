/**
 * Runs a shell script inside a real Linux kernel under qemu (software
 * emulation: KVM hangs on this kind of machine), for the live driver's
 * tests and the demo on hosts whose own kernel has no device-mapper.
 *
 * The guest sees the host's whole root read-only (so it runs the host's
 * node, dmsetup, losetup, mkfs and this project), plus one writable
 * scratch directory shared from the host, where the script keeps its
 * files. The script's exit status comes back through the serial console.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureInitramfs, installedKernels } from './initramfs.js';

/**
 * Whether this host's own kernel can run dm-thin (as root): then the live
 * tests and the demo run here and need no VM.
 */
export function hostHasDmThin(): boolean {
  return (
    process.getuid?.() === 0 && existsSync('/dev/mapper/control') && /thin-pool/.test(spawnSync('dmsetup', ['targets'], { encoding: 'utf8' }).stdout ?? '')
  );
}

export type Availability = { ok: true; kernel: string } | { ok: false; reason: string };

/** Whether a VM can be booted here, and if not, exactly why. */
export function vmAvailability(): Availability {
  if (process.platform !== 'linux') return { ok: false, reason: 'the VM harness needs Linux' };
  if (spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return { ok: false, reason: 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)' };
  }
  const kernels = installedKernels();
  if (kernels.length === 0) return { ok: false, reason: 'no kernel with modules in /boot (apt-get install linux-image-amd64)' };
  if (!existsSync('/bin/busybox') && !existsSync('/usr/bin/busybox')) {
    return { ok: false, reason: 'busybox-static not installed (apt-get install busybox-static)' };
  }
  if (spawnSync('modprobe', ['--version'], { stdio: 'ignore' }).status !== 0) return { ok: false, reason: 'kmod (modprobe) not installed' };
  return { ok: true, kernel: kernels[kernels.length - 1] };
}

export interface VmOptions {
  /** Directory the script starts in (default: the current one). */
  cwd?: string;
  /** Writable directory shared with the guest (default: a fresh one under /var/tmp). */
  scratch?: string;
  timeoutMs?: number;
  memoryMiB?: number;
  /** Every console line as it arrives (narration, progress). */
  onLine?: (line: string) => void;
}

export interface VmResult {
  exitCode: number;
  /** Console output after the guest came up, firmware noise removed. */
  output: string;
  scratch: string;
  durationMs: number;
}

export class VmError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = 'VmError';
  }
}

/**
 * A scratch directory the guest can write. Not under /tmp: the guest's /tmp
 * is the host's, read-only, and code the guest runs may live there.
 */
export function makeScratch(prefix = 'run-'): string {
  const base = process.env.DMTHIN_VM_SCRATCH ?? '/var/tmp/dmthin-vm';
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, prefix));
}

export function runInVm(script: string, options: VmOptions = {}): Promise<VmResult> {
  const avail = vmAvailability();
  if (!avail.ok) return Promise.reject(new VmError(`cannot boot the test VM: ${avail.reason}`, ''));
  const kver = avail.kernel;
  const initrd = ensureInitramfs(kver);
  const scratch = resolve(options.scratch ?? makeScratch());
  const cwd = resolve(options.cwd ?? process.cwd());
  for (const [what, p] of [
    ['script', resolve(script)],
    ['cwd', cwd],
    ['scratch', scratch],
  ] as const) {
    if (/\s/.test(p)) throw new VmError(`the VM cannot take a ${what} path with spaces: ${p}`, '');
  }
  const args = [
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-m',
    String(options.memoryMiB ?? 1024),
    '-smp',
    '2',
    '-nographic',
    '-no-reboot',
    '-net',
    'none',
    '-kernel',
    `/boot/vmlinuz-${kver}`,
    '-initrd',
    initrd,
    '-append',
    `console=ttyS0 quiet loglevel=3 panic=-1 dmthin.script=${resolve(script)} dmthin.cwd=${cwd} dmthin.scratch=${scratch}`,
    '-fsdev',
    'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev',
    `local,id=scratch,path=${scratch},security_model=none,multidevs=remap`,
    '-device',
    'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
  ];
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let raw = '';
    let up = false;
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new VmError(`the VM did not finish within ${options.timeoutMs ?? 300_000} ms`, clean(raw)));
    }, options.timeoutMs ?? 300_000);
    // Decode as streams: a multi-byte character can straddle two chunks.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    const onData = (text: string): void => {
      raw += text;
      pending += text;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const l of lines) {
        const line = stripEscapes(l);
        if (line.includes('@@DMTHIN-GUEST-UP@@')) {
          up = true;
          continue;
        }
        if (up && !line.startsWith('@@DMTHIN-EXIT')) options.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new VmError(`qemu-system-x86_64: ${e.message}`, ''));
    });
    child.on('close', () => {
      clearTimeout(timer);
      const out = clean(raw);
      const m = /@@DMTHIN-EXIT (\d+)(?: ([^@]*))?@@/.exec(out);
      if (!m) {
        reject(new VmError('the VM stopped without reporting an exit status (kernel panic or boot failure?)', out));
        return;
      }
      if (m[2]) {
        reject(new VmError(`the VM could not run the script: ${m[2]}`, out));
        return;
      }
      const after = out.indexOf('@@DMTHIN-GUEST-UP@@');
      const output = out.slice(after >= 0 ? after + '@@DMTHIN-GUEST-UP@@'.length + 1 : 0, m.index).replace(/\n$/, '');
      resolvePromise({ exitCode: Number(m[1]), output, scratch, durationMs: Date.now() - started });
    });
  });
}

function stripEscapes(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes are what this removes
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1bc/g, '').replace(/\r/g, '');
}

function clean(s: string): string {
  return stripEscapes(s).replace(/\r\n/g, '\n');
}
