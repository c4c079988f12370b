/**
 * Runs an external command: argument arrays only (never a shell string), a
 * timeout on every call, and errors that carry the command line, exit code
 * and stderr, so that a failed `dmsetup message` says what the kernel said.
 */
import { execFile } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
    reason?: string,
  ) {
    super(
      `${argv.join(' ')} failed${exitCode !== null ? ` (exit ${exitCode})` : ''}${reason ? ` (${reason})` : ''}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
    );
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Milliseconds before the command is killed (default 60 s). */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** The environment every device-mapper tool runs with: no udev here or in the VM. */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, DM_DISABLE_UDEV: '1', LC_ALL: 'C', ...extra };
}

export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const argv = [cmd, ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: options.timeout ?? 60_000, env: options.env ?? toolEnv(), maxBuffer: 64 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        if (e.code === 'ENOENT') {
          reject(new CommandError(argv, null, `${cmd} not found: install it (dmsetup: package dmsetup; losetup: util-linux)`, ''));
        } else if (e.killed || e.signal) {
          reject(new CommandError(argv, null, stderr, stdout, `killed by ${e.signal ?? 'timeout'} after ${options.timeout ?? 60_000} ms`));
        } else {
          reject(new CommandError(argv, typeof e.code === 'number' ? e.code : null, stderr, stdout));
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}
