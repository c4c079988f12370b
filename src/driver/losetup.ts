/** A thin wrapper around losetup(8). */
import { resolve } from 'node:path';
import { run } from './exec.js';

export interface LoopDevice {
  name: string;
  backingFile: string;
  readOnly: boolean;
}

/** Attaches `file` to the first free loop device and returns its path. */
export async function attach(file: string, options: { readOnly?: boolean } = {}): Promise<string> {
  const args = ['--find', '--show'];
  if (options.readOnly) args.push('--read-only');
  args.push(resolve(file));
  const { stdout } = await run('losetup', args);
  const dev = stdout.trim();
  if (!dev.startsWith('/dev/')) throw new Error(`losetup printed no device for ${file}: '${dev}'`);
  return dev;
}

export async function detach(device: string): Promise<void> {
  await run('losetup', ['--detach', device]);
}

export async function list(): Promise<LoopDevice[]> {
  const { stdout } = await run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE,RO']);
  if (!stdout.trim()) return [];
  const parsed = JSON.parse(stdout) as { loopdevices?: Array<{ name: string; 'back-file': string | null; ro: boolean | string | number }> };
  return (parsed.loopdevices ?? []).map((d) => ({
    name: d.name,
    backingFile: (d['back-file'] ?? '').replace(/ \(deleted\)$/, ''),
    readOnly: d.ro === true || d.ro === '1' || d.ro === 1,
  }));
}

/** Loop devices whose backing file is `file`. */
export async function findByBackingFile(file: string): Promise<LoopDevice[]> {
  const want = resolve(file);
  return (await list()).filter((d) => d.backingFile === want);
}
