/**
 * A stream that cannot be applied: damaged, truncated, of another format,
 * or not the one the target expects. Names the stream and the byte offset
 * where it went wrong. A UsageError: the CLI says it in one line, exit 1.
 */
import { UsageError } from '../errors.js';

export class StreamError extends UsageError {
  constructor(
    readonly stream: string,
    /** Byte offset in the stream of the part that is wrong. */
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${stream}, byte ${offset}: ${detail}`);
    this.name = 'StreamError';
  }
}
