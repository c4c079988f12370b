/**
 * Whether the kernel may be running the pool shrink is about to rewrite:
 * a device held open (an active pool's metadata or data), or a file a
 * loop device stands on (a pool on loop files is active through them, and
 * the file itself is never "held"). Read from sysfs, synchronously: the
 * thin layer cannot ask the driver's losetup.
 */
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { refuseIfHeld } from '../../io/held.js';

const ADVICE = 'shrink works only on a pool nothing runs. Deactivate the pool (lvchange -an, or dmsetup remove) first';

/** The loop devices whose backing file is `path`. */
function loopsOn(path: string): string[] {
  let want: string;
  let names: string[];
  try {
    want = realpathSync(path);
    names = readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    try {
      const backing = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      if (backing === want) out.push(`/dev/${n}`);
    } catch {
      // No backing file: the loop device is free.
    }
  }
  return out;
}

export function refuseIfInUse(path: string, what: 'metadata' | 'data'): void {
  refuseIfHeld(path, what, ADVICE);
  const loops = loopsOn(path);
  if (loops.length)
    throw new UsageError(`cannot write ${what} ${path}: ${loops.join(', ')} stands on it, so the pool may be active: ${ADVICE}, and detach it (losetup -d)`);
}
