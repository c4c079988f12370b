/**
 * How dmthin opens the files it is given, and how it names what went
 * wrong with them. One place decides what an input may be (a regular file
 * or a block device: never a FIFO, socket, character device or directory,
 * which would hang or mislead a reader of metadata) and turns an errno
 * into words an admin reads at 3 a.m. ("no such file: /x"), never a bare
 * ENOENT.
 */
import { type Stats, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { ArgumentError, UsageError } from '../errors.js';

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EBUSY: 'in use (busy)',
  EEXIST: 'already exists',
  EIO: 'input/output error (a failing disk?)',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EFBIG: 'file too large for this file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
  EXDEV: 'not on the same file system',
  ETXTBSY: 'busy (text file)',
  EINVAL: 'invalid argument',
};

/** "no such file" for ENOENT, and so on; the code itself when unknown. */
export function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && ERRNO_WORDS[code]) return ERRNO_WORDS[code];
  return code ?? (e as Error | undefined)?.message ?? String(e);
}

/** A UsageError naming the path and what the system said, e.g. `cannot read meta.bin: no such file`. */
export function fileError(verb: string, path: string, e: unknown): UsageError {
  if (e instanceof UsageError) return e;
  return new UsageError(`cannot ${verb} ${path}: ${errnoWords(e)}`);
}

/** What kind of thing a stat describes, in words. */
export function kindOf(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Stats an input that must be a regular file or a block device, before it
 * is opened: opening a FIFO for reading would wait for a writer forever.
 * Inputs read once front to back (a pack file) may be a FIFO too, with
 * `stream`: `-i <(cat meta.pack)`. `what` names the role ("metadata",
 * "data", "XML input").
 */
export function statInput(path: string, what: string, options: { stream?: boolean } = {}): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${errnoWords(e)}`);
  }
  if (!st.isFile() && !st.isBlockDevice() && !(options.stream && st.isFIFO())) {
    throw new UsageError(`${what} ${path} is ${kindOf(st)}: give a regular file or a block device`);
  }
  return st;
}

/**
 * The block device a loop device reads, from sysfs (`/dev/loop3` ->
 * its backing file), so that `-o /dev/loop3` is recognised as the file
 * it shows. Undefined for anything else or where sysfs does not say.
 */
function loopBacking(path: string, st: Stats): Stats | undefined {
  if (!st.isBlockDevice()) return undefined;
  const major = Math.floor(st.rdev / 256) & 0xfff;
  if (major !== 7) return undefined; // loop devices are major 7
  try {
    const name = basename(realpathSync(path));
    const backing = readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8')
      .trim()
      .replace(/ \(deleted\)$/, '');
    return statSync(backing);
  } catch {
    return undefined;
  }
}

function identical(a: Stats, b: Stats): boolean {
  if (a.isBlockDevice() && b.isBlockDevice()) return a.rdev === b.rdev;
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Whether two paths are the same file: the same device and inode (hard
 * links, symbolic links, bind mounts), the same block device (a
 * /dev/mapper alias of /dev/dm-3), or a loop device and the file behind it.
 */
export function sameFile(a: string, b: string): boolean {
  let sa: Stats;
  let sb: Stats;
  try {
    sa = statSync(a);
    sb = statSync(b);
  } catch {
    return false;
  }
  if (identical(sa, sb)) return true;
  const la = loopBacking(a, sa);
  const lb = loopBacking(b, sb);
  return (la !== undefined && identical(la, sb)) || (lb !== undefined && identical(sa, lb)) || (la !== undefined && lb !== undefined && identical(la, lb));
}

/** Refuses to write `path` (a `what`) when its directory `dir` is missing or not a directory, before anything is read or written. */
export function requireDirectory(dir: string, path: string, what: string): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new UsageError(`cannot write ${what} ${path}: its directory ${dir}: ${errnoWords(e)}`);
  }
  if (!st.isDirectory()) throw new UsageError(`cannot write ${what} ${path}: ${dir} is ${kindOf(st)}, not a directory`);
}

/** How a refusal names a path to be written that is a path read: "`written` PATH is `read` (alias): `wayOn`". */
export interface Crossing {
  /** the written path's role, as in 'the output' */
  written: string;
  /** what the read path is to the user, as in 'an input' */
  read: string;
  /** why not, and what to give instead */
  wayOn: string;
  /** also refuse two paths that are one name when neither file exists yet (a target and its state record made by one command) */
  byName?: boolean;
}

const OUTPUT_IS_INPUT: Crossing = { written: 'the output', read: 'an input', wayOn: 'dmthin never writes over what it reads; give another output' };

/** Refuses writing `written` when it is the file `read` (any alias of it), naming both. */
export function refuseSameFile(written: string, read: string, crossing: Crossing): void {
  if ((crossing.byName === true && resolve(written) === resolve(read)) || sameFile(written, read)) {
    const alias = written === read ? '' : ` (${written} and ${read} are the same file)`;
    throw new ArgumentError(`${crossing.written} ${written} is ${crossing.read}${alias}: ${crossing.wayOn}`);
  }
}

/** Refuses an output that is one of the inputs, naming both ('-', standard input or output, is no file). */
export function refuseInputAsOutput(output: string, inputs: readonly string[]): void {
  for (const input of inputs) {
    if (input === '-' || output === '-') continue;
    refuseSameFile(output, input, OUTPUT_IS_INPUT);
  }
}

/** Whether `path` is a block device (false when it cannot be stat'ed): a plan says dd for a device, cp for a file. */
export function isBlockDevicePath(path: string): boolean {
  try {
    return statSync(path).isBlockDevice();
  } catch {
    return false;
  }
}
