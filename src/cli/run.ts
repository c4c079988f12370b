/** How a command's result and errors reach the user: exit codes, one line on stderr (or a JSON object). */
import { ArgumentError, UsageError } from '../errors.js';
import { CommandError } from '../driver/exec.js';
import { MetadataError } from '../format/errors.js';
import { BoltError } from '../format/bbolt/errors.js';
import { FsError } from '../fs/errors.js';
import { errnoWords } from '../io/files.js';
import { printJson, wantsJson } from './json.js';

/**
 * Prints a failure: one line `dmthin: what is wrong`, or with --json one
 * object `{"error": {"kind", "message", "exit_code"}}` on stderr.
 */
export function reportError(message: string, kind: string, exitCode: number): void {
  if (wantsJson()) printJson({ error: { kind, message, exitCode } }, process.stderr, 0);
  else process.stderr.write(`${programName}: ${message}\n`);
}

let programName = 'dmthin';

/** The name errors start with: dmthin, or the thin_* name it was run as. */
export function setProgramName(name: string): void {
  programName = name;
}

/**
 * Runs a command body; an error becomes one line on stderr (never a stack
 * trace, never Node's internals) and exit code 2 for a wrong argument, 1
 * for anything else. DMTHIN_DEBUG=1 adds the stack of unexpected errors.
 */
export function run(body: () => number | Promise<number>): Promise<void> {
  return Promise.resolve()
    .then(body)
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        const code = e instanceof ArgumentError ? 2 : 1;
        const err = e as NodeJS.ErrnoException;
        if (e instanceof UsageError || e instanceof MetadataError || e instanceof CommandError || e instanceof FsError || e instanceof BoltError) {
          reportError(
            err.message,
            e instanceof ArgumentError
              ? 'usage'
              : e instanceof MetadataError
                ? 'metadata'
                : e instanceof CommandError
                  ? 'command'
                  : e instanceof FsError
                    ? 'filesystem'
                    : e instanceof BoltError
                      ? 'bbolt'
                      : 'failed',
            code,
          );
        } else if (err && typeof err.code === 'string' && err.syscall) {
          reportError(`${err.syscall === 'open' ? 'cannot open' : `${err.syscall} failed on`} ${err.path ?? 'a file'}: ${errnoWords(err)}`, 'system', code);
        } else if (e instanceof Error && e.constructor === Error) {
          // A plain Error carries a message meant for people (a kernel refusal, an injected fault).
          reportError(e.message, 'failed', code);
        } else {
          // A bug (TypeError, RangeError, ...): say so plainly; the stack only on request.
          reportError(`internal error: ${err?.message ?? String(e)} (please report it; DMTHIN_DEBUG=1 shows where)`, 'internal', code);
          if (process.env.DMTHIN_DEBUG) process.stderr.write(`${err?.stack}\n`);
        }
        process.exitCode = code;
      },
    );
}
