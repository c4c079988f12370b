/**
 * runSelf, kept here while the live send is being moved into the library.
 * The rest of what every command shares is in its own file (args, json,
 * columns, run, help, drop-ins, progress, version); the re-exports below
 * serve only cli/lvm.ts and cli/stream.ts, which are being changed at the
 * same time, and go when they import from those files.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';

export { arg, parseIntArg, parseSizeArg, parseThinIdArg } from './args.js';
export { alignColumns } from './columns.js';
export { announce, printJson } from './json.js';
export { reportError, run } from './run.js';

/**
 * Runs this same dmthin with `args` in a child process sharing our standard
 * streams; resolves with its exit status. For work that holds something in
 * the kernel (a metadata snapshot): the child does the long synchronous
 * read, this process stays free to hear a signal, kill the child and
 * release what it holds. SIGTERM and SIGHUP are passed on (SIGINT from a
 * terminal reaches the child anyway).
 */
export function runSelf(args: readonly string[]): Promise<{ code: number; pid: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { stdio: 'inherit' });
    const pass = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGTERM', pass).on('SIGHUP', pass);
    const done = (): void => {
      process.off('SIGTERM', pass).off('SIGHUP', pass);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('exit', (code, sig) => {
      done();
      resolve({ code: code ?? 128 + (sig ? (osConstants.signals[sig] ?? 1) : 1), pid: child.pid!, signal: sig });
    });
  });
}
