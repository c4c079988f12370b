/**
 * Every file dmthin writes goes through here, so that no mistake on the
 * command line and no failure half-way can harm an input or an existing
 * file:
 *
 * - an output that is one of the inputs (by device and inode, block device
 *   number, or a loop device's backing file) is refused before anything is
 *   opened for writing;
 * - a new or existing regular file is written under a temporary name in the
 *   same directory (`.NAME.dmthin-partial-PID`) and renamed over NAME only
 *   when the command has succeeded; on failure the temporary file is
 *   removed and NAME is untouched (a kill -9 leaves only the temporary
 *   file behind, never a damaged NAME);
 * - `-` is standard output (binary output refuses a terminal);
 * - character devices and FIFOs (/dev/null, a pipe) are streams, written
 *   as they come;
 * - a block device is written in place: the caller has checked everything
 *   it can before opening it.
 *
 * Metadata written in place (restore, repair: the output's size is the
 * metadata's size, and a loop device may stand on it) goes through
 * StagedBlocks instead.
 */
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { errnoWords, kindOf, refuseInputAsOutput, requireDirectory } from './files.js';
import { refuseIfHeld } from './held.js';

export interface OutputOptions {
  /** Files the command reads: the output may be none of them. */
  inputs?: readonly string[];
  /** Bytes no terminal should receive (a disk image, a pack). */
  binary?: boolean;
  /** What the output holds, for messages ("HTML report", "image"). */
  what?: string;
}

export class OutputFile {
  private done = false;

  private constructor(
    /** The path the user named ('-' for standard output). */
    readonly path: string,
    readonly fd: number,
    /** Where the bytes go until commit, when that is not `path`. */
    private readonly temp: string | undefined,
    /** Positioned writes allowed (a regular file or a block device). */
    readonly seekable: boolean,
    /** An existing file is replaced: it must be on disk before the rename. */
    private readonly replaces = false,
  ) {}

  /** Checks `path` against the rules above and opens it (or its temporary file) for writing. */
  static create(path: string, options: OutputOptions = {}): OutputFile {
    const what = options.what ?? 'output';
    if (path === '') throw new UsageError(`the ${what} path is empty`);
    if (path === '-') {
      if (options.binary && process.stdout.isTTY) {
        throw new UsageError(`will not write a binary ${what} to a terminal: redirect standard output (> FILE or | CMD) or give -o FILE`);
      }
      return new OutputFile('-', 1, undefined, false);
    }
    refuseInputAsOutput(path, options.inputs ?? []);
    let st: Stats | undefined;
    try {
      st = statSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot write ${what} ${path}: ${errnoWords(e)}`);
    }
    if (st?.isBlockDevice()) {
      // Written in place: never a device the kernel holds (a mounted file system, an active pool).
      refuseIfHeld(path, what, 'unmount it or deactivate what uses it first');
    }
    if (st && (st.isCharacterDevice() || st.isFIFO() || st.isBlockDevice())) {
      if (st.isCharacterDevice() && options.binary && path !== '/dev/null' && isTerminal(path)) {
        throw new UsageError(`will not write a binary ${what} to the terminal ${path}`);
      }
      return new OutputFile(path, openOrExplain(path, 'w', what), undefined, st.isBlockDevice());
    }
    if (st && !st.isFile()) throw new UsageError(`cannot write ${what} ${path}: it is ${kindOf(st)}`);
    // Through a symbolic link: the file it names is replaced, not the link.
    const real = st && lstatSync(path).isSymbolicLink() ? realpathSync(path) : path;
    const dir = dirname(real);
    requireDirectory(dir, path, what);
    const temp = partialPath(real, process.pid);
    const fd = openOrExplain(temp, 'w', what, path);
    try {
      // An existing file keeps its owner and mode when it is replaced.
      if (st) {
        fchmodSync(fd, st.mode & 0o7777);
        if (process.getuid?.() === 0) fchownSync(fd, st.uid, st.gid);
      }
    } catch {
      // Not allowed to keep them: the new file is ours, as any new file.
    }
    return new OutputFile(real, fd, temp, true, st !== undefined);
  }

  /** Whether bytes reach the path named as they are written (a stream or a block device), not a file renamed over it at the end. */
  get replacesInPlace(): boolean {
    return this.temp === undefined;
  }

  /** Whether a file of that name was there before (it is replaced only at commit). */
  get existed(): boolean {
    return this.replaces;
  }

  /** Makes the output final: fsync and rename over the path named. Idempotent. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    if (this.fd === 1) return;
    try {
      if (this.replaces || fstatSync(this.fd).isBlockDevice()) fsyncSync(this.fd);
      closeSync(this.fd);
      if (this.temp !== undefined) renameSync(this.temp, this.path);
    } catch (e) {
      this.removeTemp();
      throw new UsageError(`cannot finish writing ${this.path}: ${errnoWords(e)}; it was left as it was`);
    }
  }

  /** Gives up: the temporary file is removed, the path named is untouched. Idempotent. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    if (this.fd === 1) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by a failed write: nothing more to release.
    }
    this.removeTemp();
  }

  private removeTemp(): void {
    if (this.temp === undefined) return;
    try {
      unlinkSync(this.temp);
    } catch {
      // Gone already.
    }
  }
}

/** Where process `pid` writes `path` until it commits it. */
export function partialPath(path: string, pid: number): string {
  return join(dirname(path), `.${basename(path)}.dmthin-partial-${pid}`);
}

/**
 * Removes what process `pid`, killed before it could, left of its output
 * `path` (the path named itself is never touched).
 */
export function removePartial(path: string, pid: number): void {
  if (path === '-') return;
  let real = path;
  try {
    if (lstatSync(path).isSymbolicLink()) real = realpathSync(path);
  } catch {
    // No file there: its partial is beside the name given.
  }
  try {
    unlinkSync(partialPath(real, pid));
  } catch {
    // None left.
  }
}

/**
 * Runs `body` with an output open, committing it when `body` returns and
 * aborting it when `body` throws: the one way commands write a file.
 */
export function withOutput<T>(path: string, options: OutputOptions, body: (out: OutputFile) => T): T {
  const out = OutputFile.create(path, options);
  try {
    const r = body(out);
    out.commit();
    return r;
  } catch (e) {
    throw writeError(e, out, options.what);
  } finally {
    out.abort();
  }
}

/** withOutput for a body that writes asynchronously: committed once it resolves, aborted if it rejects. */
export async function withOutputAsync<T>(path: string, options: OutputOptions, body: (out: OutputFile) => Promise<T>): Promise<T> {
  const out = OutputFile.create(path, options);
  try {
    const r = await body(out);
    out.commit();
    return r;
  } catch (e) {
    throw writeError(e, out, options.what);
  } finally {
    out.abort();
  }
}

/**
 * A failed write to the output (ENOSPC, EIO, EFBIG: Node's error names no
 * path for a write by descriptor) as one line naming the output, and that
 * the file named was left as it was when it is written beside it.
 */
function writeError(e: unknown, out: OutputFile, what = 'output'): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!err || typeof err.code !== 'string' || err.path !== undefined || !['write', 'fsync', 'ftruncate'].includes(err.syscall ?? '')) return e;
  const where = out.path === '-' ? 'standard output' : out.path;
  const after = out.replacesInPlace ? '' : out.existed ? `; ${where} was left as it was` : `; no ${where} was made`;
  return new UsageError(`cannot write ${what} to ${where}: ${errnoWords(e)}${after}`);
}

function isTerminal(path: string): boolean {
  return /^\/dev\/(tty|pts\/)/.test(path);
}

function openOrExplain(path: string, flags: string, what: string, named = path): number {
  try {
    return openSync(path, flags, 0o644);
  } catch (e) {
    throw new UsageError(`cannot write ${what} ${named}: ${errnoWords(e)}`);
  }
}
