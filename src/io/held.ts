/**
 * Whether the kernel holds a block device (a mounted filesystem, an active
 * dm table): an exclusive open then fails. Regular files are never held in
 * this sense.
 */
import { closeSync, constants, openSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

/** The errno code of a refused exclusive open, or undefined when free. */
export function heldBy(path: string): string | undefined {
  if (!statSync(path).isBlockDevice()) return undefined;
  try {
    closeSync(openSync(path, constants.O_RDONLY | constants.O_EXCL));
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EBUSY';
  }
}

/**
 * The one refusal to write a device the kernel holds: `what` names the
 * write ("metadata", "data"), `advice` says what to do instead.
 */
export function refuseIfHeld(path: string, what: string, advice: string): void {
  const code = heldBy(path);
  if (code) throw new UsageError(`cannot write ${what} ${path}: it is held open by the kernel (${code}; mounted, or an active pool's device): ${advice}`);
}
