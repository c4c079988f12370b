/**
 * What the kernel refused, read from dmsetup's answer: a request the pool
 * cannot meet as it stands (an id that exists or does not, a busy device).
 * A UsageError, so the CLI reports it in one line and exits 1; the command
 * line and raw output stay on the CommandError it came from (`cause`).
 */
import { UsageError } from '../errors.js';
import { CommandError } from './exec.js';

export class KernelRefusal extends UsageError {
  constructor(
    message: string,
    override readonly cause: CommandError,
  ) {
    super(message);
    this.name = 'KernelRefusal';
  }
}

/** Makes a failed kernel request readable: what was asked, what the kernel said. */
export function explain(e: unknown, what: string): Error {
  if (!(e instanceof CommandError)) return e as Error;
  const said = e.stderr.replace(/^device-mapper: /gm, '').trim();
  if (/File exists/i.test(said)) return new KernelRefusal(`${what}: that thin id already exists in the pool (${said})`, e);
  if (/No data available|No such device or address|not found/i.test(said)) return new KernelRefusal(`${what}: no such thin id in the pool (${said})`, e);
  if (/busy/i.test(said)) return new KernelRefusal(`${what}: device busy (mounted or open?) (${said})`, e);
  return new KernelRefusal(`${what} failed: ${said || e.message}`, e);
}
