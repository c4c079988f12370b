/**
 * Whether the kernel holds a block device (a mounted filesystem, an active
 * dm table): an exclusive open then fails. Regular files are never held in
 * this sense.
 */
import { closeSync, constants, openSync, statSync } from 'node:fs';

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
