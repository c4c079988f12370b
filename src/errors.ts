/**
 * Errors of a request rather than of the bytes on disk: a file that is not
 * there or not metadata, an output that would harm an input, a bad value.
 * Raised by every layer, so they live below all of them; the CLI exits 1
 * for a UsageError and 2 for an ArgumentError.
 */

/** Input that is not metadata at all, or a request that cannot be met. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A value given on the command line (or to a library call) that cannot be
 * right whatever is on disk: a malformed size, an output that is an input.
 * The CLI exits 2 for these, 1 for every other failure.
 */
export class ArgumentError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'ArgumentError';
  }
}

/**
 * A fault of dmthin itself, never of the input: the CLI reports it as an
 * internal error to be reported.
 */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}

/**
 * The value, which dmthin's own logic guarantees is present; `what` names it
 * in the internal error raised when a bug breaks that guarantee. For values
 * the input can make missing, throw the module's typed error instead.
 */
export function must<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new InternalError(`${what} is missing`);
  return value;
}
