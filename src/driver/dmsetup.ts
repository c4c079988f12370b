/**
 * A thin wrapper around dmsetup(8), one function per verb. Every call runs
 * with --noudevsync and DM_DISABLE_UDEV=1: there is no udev in the test VM
 * and often none on rescue systems; libdevmapper then makes /dev/mapper
 * nodes itself.
 */
import { CommandError, run } from './exec.js';

const NOUDEV = '--noudevsync';

export interface DmInfo {
  name: string;
  major: number;
  minor: number;
  openCount: number;
  suspended: boolean;
  readOnly: boolean;
}

export async function create(name: string, table: string, options: { readOnly?: boolean } = {}): Promise<void> {
  const args = ['create', NOUDEV, name, '--table', table];
  if (options.readOnly) args.splice(2, 0, '--readonly');
  await run('dmsetup', args);
}

/**
 * Removes a device. A device the kernel still holds open answers EBUSY;
 * that (and only that) is retried a few times, as a just-closed device can
 * take a moment to be released.
 */
export async function remove(name: string, options: { retries?: number } = {}): Promise<void> {
  const retries = options.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      await run('dmsetup', ['remove', NOUDEV, name]);
      return;
    } catch (e) {
      if (!(e instanceof CommandError) || !/busy/i.test(e.stderr) || attempt >= retries) throw e;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
}

export async function message(name: string, msg: string): Promise<string> {
  const { stdout } = await run('dmsetup', ['message', name, '0', ...msg.split(' ')]);
  return stdout.trim();
}

export async function status(name: string): Promise<string> {
  return (await run('dmsetup', ['status', name])).stdout.trim();
}

export async function table(name: string): Promise<string> {
  return (await run('dmsetup', ['table', name])).stdout.trim();
}

export async function suspend(name: string): Promise<void> {
  await run('dmsetup', ['suspend', NOUDEV, name]);
}

export async function resume(name: string): Promise<void> {
  await run('dmsetup', ['resume', NOUDEV, name]);
}

export async function info(name: string): Promise<DmInfo | undefined> {
  try {
    const { stdout } = await run('dmsetup', ['info', '-c', '--noheadings', '--separator', ';', '-o', 'name,major,minor,open,attr', name]);
    const [n, maj, min, open, attr] = stdout.trim().split(';');
    return { name: n, major: Number(maj), minor: Number(min), openCount: Number(open), suspended: attr[2] === 's', readOnly: attr[3] === 'r' };
  } catch (e) {
    if (e instanceof CommandError && /not exist|No such device/i.test(e.stderr)) return undefined;
    throw e;
  }
}

export async function exists(name: string): Promise<boolean> {
  return (await info(name)) !== undefined;
}

/** Names of dm devices, optionally only those with a `target` segment. */
export async function ls(target?: string): Promise<string[]> {
  const args = ['ls'];
  if (target) args.push('--target', target);
  const { stdout } = await run('dmsetup', args);
  if (/No devices found/i.test(stdout)) return [];
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

/** Every device's table lines, for finding the thins of a pool: name -> table. */
export async function tables(target?: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await ls(target)) out.set(name, await table(name));
  return out;
}

export async function version(): Promise<string> {
  return (await run('dmsetup', ['version'])).stdout.trim();
}
