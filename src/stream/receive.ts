/**
 * `dmthin receive`: applies a stream (format.ts) to a raw image file or
 * block device. Nothing existing is harmed, whatever the input:
 *
 * - the paths are checked first: the stream a regular file or block device
 *   (or '-'), the state record a regular file or nothing, the target a
 *   regular file or block device, and no two of them the same file;
 * - the stream is verified whole (walk.ts: header, every record's fields
 *   and CRC, the end record's totals and stream checksum), standard input
 *   staged beside the target only as far as it has been found good;
 * - the stream is checked against the target: its base against the state
 *   record, its size against a device's size, the filesystem's largest
 *   file and its free space;
 * - only then is the state record told which stream is being applied, and
 *   the target written: a full stream into a file goes into a file beside
 *   it, renamed over it when complete (the old image stays whole until
 *   then); an incremental stream, or any stream into a device, is written
 *   in place, record by record; last, the state record says what the
 *   target holds.
 *
 * A receive killed while applying leaves the state record naming the stream
 * being applied: that same stream finishes it, any other is refused. One
 * that fails (an I/O error) before the target changed puts the state
 * record back as it was.
 */
import {
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  statfsSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ArgumentError, UsageError, must } from '../errors.js';
import { probeDeviceSize as probeSize } from '../io/byte-source.js';
import { errnoWords, fileError, kindOf, refuseSameFile, requireDirectory } from '../io/files.js';
import { writeFullAsync } from '../io/full-io.js';
import { partialPath } from '../io/output-file.js';
import { unmapRanges, zeroOut } from '../io/unmap.js';
import { grow } from '../pdata/grow.js';
import type { StreamHeader } from './format.js';
import { StreamError } from './errors.js';
import { NOT_A_STREAM } from './format.js';
import { hex } from './identity.js';
import { StagedStdin } from './staged-stdin.js';
import { type TargetState, readState, readStateBytes, restoreState, writeState } from './state.js';
import { walk } from './walk.js';

export { readState, type TargetState } from './state.js';

export interface ReceiveOptions {
  /** The state record (default: TARGET.dmthin-state). */
  state?: string;
  /**
   * Treat a file target as a block device is treated: written in place, not
   * truncated, and written with zeros where a full stream has no record (a
   * device keeps its old bytes there). Tests use it to drive the
   * block-device path.
   */
  asDevice?: boolean;
  /** Names the target in messages and the state record (a thin device reached through a temporary dm device). */
  label?: string;
}

export interface ReceiveResult {
  target: string;
  incremental: boolean;
  identity: string;
  dataBlocks: number;
  zeroBlocks: number;
  resumed: boolean;
  /**
   * How discarded runs became zeros: holes punched in a file, discards sent
   * to a device (read back, zeroed where they did not read as zeros), or
   * zeros written (holes or discards refused: `unmapRefused` says why).
   */
  discardedAs: 'holes' | 'discards' | 'zeros';
  zeroBytesWritten: number;
  unmapRefused?: string;
}

const CHUNK = 1 << 20;

/** A stream read whole and verified (every field and CRC, the totals, the stream checksum), ready to apply. */
export interface VerifiedStream {
  /** Where it is read from: the file given, or standard input staged in a file. */
  path: string;
  /** What messages call it. */
  name: string;
  header: StreamHeader;
  /** Blocks of data and discarded blocks the stream holds. */
  dataBlocks: number;
  zeroBlocks: number;
  /** Removes a staged copy of standard input. */
  close(): void;
}

/** A stream path must be read twice: a regular file or block device (a FIFO would be read once, or wait forever), or '-'. */
function checkStreamPath(path: string): void {
  if (path === '-') return;
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new UsageError(`cannot read stream ${path}: ${errnoWords(e)}`);
  }
  if (!st.isFile() && !st.isBlockDevice()) {
    throw new UsageError(`stream ${path} is ${kindOf(st)}: give a regular file (receive reads it twice: verifies, then applies), or -i - and pipe it in`);
  }
}

/**
 * An error of the system while reading the stream (not of its bytes), in
 * words; a defect of the stream said with what it means for `target`: it
 * was not touched, and what to do (the admin's next question).
 */
const readFailure = (name: string, e: unknown, target: string): unknown => {
  if (e instanceof StreamError)
    return new StreamError(
      e.stream,
      e.offset,
      `${e.detail}; ${target} was not changed: ${e.detail === NOT_A_STREAM ? 'give the file (or pipe) dmthin send or lvm send wrote' : 'send the stream again'}`,
    );
  return e instanceof UsageError || !(e as NodeJS.ErrnoException)?.code ? e : fileError('read stream', name, e);
};

/**
 * Reads and verifies the stream at `streamPath` ('-': standard input,
 * staged in `stageDir` since it cannot be read twice), before anything of
 * `target` (named in a refusal) is changed.
 */
export async function openStream(streamPath: string, stageDir: string, target: string): Promise<VerifiedStream> {
  checkStreamPath(streamPath);
  if (streamPath !== '-') {
    try {
      const w = await walk(streamPath, streamPath);
      return { path: streamPath, name: streamPath, header: w.header, dataBlocks: w.dataBlocks, zeroBlocks: w.zeroBlocks, close: () => {} };
    } catch (e) {
      throw readFailure(streamPath, e, target);
    }
  }
  const name = 'standard input';
  if (process.stdin.isTTY) throw new UsageError('standard input is a terminal: pipe a stream into it (... | dmthin receive -i - ...), or give -i FILE');
  const staged = join(stageDir, `.dmthin-stream-${process.pid}`);
  let source: StagedStdin;
  try {
    source = new StagedStdin(staged);
  } catch (e) {
    throw new UsageError(`cannot stage standard input in ${stageDir}: ${errnoWords(e)}`);
  }
  const close = (): void => rmSync(staged, { force: true });
  try {
    const w = await walk(source, name);
    return { path: staged, name, header: w.header, dataBlocks: w.dataBlocks, zeroBlocks: w.zeroBlocks, close };
  } catch (e) {
    close();
    throw readFailure(name, e, target);
  }
}

const ANOTHER_STATE = '--state another file (default: TARGET.dmthin-state)';

/**
 * Refuses a target or state record that is the stream, and a state record
 * that is the target (by name, link or loop device): receive writes both.
 */
export function refuseCrossedPaths(streamPath: string, target: string, statePath: string): void {
  // byName: the target and its state record may both be made by this receive, so neither exists yet.
  if (streamPath !== '-') {
    const readIt = 'receive writes it, and never over what it reads';
    refuseSameFile(target, streamPath, { written: 'the target', read: 'the stream being read', wayOn: `${readIt}; give another target`, byName: true });
    refuseSameFile(statePath, streamPath, {
      written: 'the state record',
      read: 'the stream being read',
      wayOn: `${readIt}; give ${ANOTHER_STATE}`,
      byName: true,
    });
  }
  refuseSameFile(statePath, target, { written: 'the state record', read: `the target ${target}`, wayOn: `give ${ANOTHER_STATE}`, byName: true });
}

/** The target's stat (following links), undefined when it does not exist; refuses what receive cannot write. */
function statTarget(target: string): Stats | undefined {
  let st: Stats;
  try {
    st = statSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`cannot write ${target}: ${errnoWords(e)}`);
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`${target} is ${kindOf(st)}: give a regular file or a block device to receive into`);
  return st;
}

/** Applies the stream at `streamPath` ('-' for standard input) to `target`. */
export async function receive(streamPath: string, target: string, options: ReceiveOptions = {}): Promise<ReceiveResult> {
  // Beside a device node the record would live in /dev, gone at the next boot: the next incremental would be refused.
  if (options.state === undefined && existsSync(target) && !statSync(target).isFile()) {
    throw new ArgumentError(
      `${target} is not a regular file: give --state FILE, where its received state is kept (beside it, in /dev, it would not survive a reboot)`,
    );
  }
  const statePath = options.state ?? `${target}.dmthin-state`;
  if (streamPath === '' || target === '' || statePath === '')
    throw new ArgumentError('the stream, the target and the state record need a path each: one is empty');
  // Everything that can be said of the paths is said before the stream is read (or standard input staged).
  refuseCrossedPaths(streamPath, target, statePath);
  statTarget(target);
  readStateBytes(statePath);
  requireDirectory(dirname(statePath), statePath, 'state record');
  const v = await openStream(streamPath, dirname(statePath), options.label ?? target);
  try {
    return await applyStream(v, target, options);
  } finally {
    v.close();
  }
}

/** A stream as admit's messages name it: the snapshot it carries, and its base. */
const describe = (identity: string, base: string | null): string => `${identity.slice(0, 16)}...${base ? ` since ${base.slice(0, 16)}...` : ' (full)'}`;

/**
 * Whether `v` may be applied to a target whose state record is at
 * `statePath`: throws, naming both sides, when not. `label` names the
 * target in messages and in the state record (`target`), which must agree.
 */
export function admit(v: VerifiedStream, label: string, statePath: string, targetExists: boolean): { state: TargetState | undefined; resumed: boolean } {
  const { header, name } = v;
  const target = label;
  const identity = hex(header.identity);
  const baseIdentity = header.incremental ? hex(header.baseIdentity) : null;
  const state = readState(statePath);
  if (state?.target !== undefined && state.target !== label) {
    throw new UsageError(`state record ${statePath} is for ${state.target}, not ${label}: give the state record of this target`);
  }
  let resumed = false;
  if (state?.applying) {
    // The same stream: the same snapshot from the same base (an incremental to the snapshot a half-applied full
    // stream was writing would leave the blocks it does not carry as the full stream left them).
    if (state.applying.identity !== identity || state.applying.base_identity !== baseIdentity) {
      throw new UsageError(
        `${target} is half way through applying stream ${describe(state.applying.identity, state.applying.base_identity)}: give that stream again to finish it (this one is ${describe(identity, baseIdentity)})`,
      );
    }
    resumed = true;
  } else if (header.incremental) {
    const shortBase = must(baseIdentity, "an incremental stream's base identity").slice(0, 16);
    if (!state || !targetExists)
      throw new UsageError(`${name} is incremental (base ${shortBase}...), but ${target} has no state record (${statePath}): receive the full stream first`);
    if (state.identity !== baseIdentity) {
      const holds = `${target} holds thin ${state.device_id} as received at ${state.applied_at} (${state.identity.slice(0, 16)}...)`;
      const base = `${name}'s base is thin ${header.baseDeviceId} (${shortBase}...)`;
      const advice =
        header.baseDeviceId === state.device_id
          ? `thin ${state.device_id} has changed since it was sent (written to, or its pool's metadata repaired or restored): send a full stream`
          : `send it again from the base the target holds, thin ${state.device_id} (dmthin send --base ${state.device_id}; from LVM images, lvm send --base VG/LV, the thin LV whose device id is ${state.device_id}: lvm ls lists them), or send a full stream`;
      throw new UsageError(`${base}, but ${holds}: not applying it; ${advice}`);
    }
    if (state.block_size !== header.blockSize) {
      throw new UsageError(`${name} has blocks of ${header.blockSize} bytes; ${target} was received with ${state.block_size}`);
    }
  }
  return { state, resumed };
}

/** A file of `size` bytes beside `real` (made and removed again), to learn before anything changes whether its filesystem allows one. */
function probeFileSize(real: string, size: number, target: string): void {
  const probe = partialPath(real, process.pid);
  const fd = openSync(probe, 'w', 0o600);
  try {
    ftruncateSync(fd, size);
  } catch (e) {
    throw tooLarge(target, size, e);
  } finally {
    closeSync(fd);
    unlinkSync(probe);
  }
}

const tooLarge = (target: string, size: number, e: unknown): UsageError =>
  new UsageError(`cannot receive into ${target}: its filesystem has no room for a file of ${size} bytes, the stream's virtual size (${errnoWords(e)})`);

/** Refuses when `dir`'s filesystem says it has less than `need` bytes free (where it says nothing, nothing is refused). */
function checkFree(dir: string, need: number, target: string): void {
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    return;
  }
  if (need > free) throw new UsageError(`cannot receive into ${target}: the stream holds ${need} bytes of data, and ${dir} has ${free} bytes free`);
}

/** Applies a verified stream to `target`, a file or block device. */
export async function applyStream(v: VerifiedStream, target: string, options: ReceiveOptions = {}): Promise<ReceiveResult> {
  const statePath = options.state ?? `${target}.dmthin-state`;
  const label = options.label ?? target;
  const { header } = v;
  const st = statTarget(target);
  const stateBefore = readStateBytes(statePath);
  const { state, resumed } = admit(v, label, statePath, st !== undefined);
  const isFile = !options.asDevice && (st === undefined || st.isFile());
  if (!state && !header.incremental && st?.isFile() && st.size > 0 && !options.asDevice)
    throw new UsageError(
      `${target} exists and was not made by dmthin receive (no ${statePath}): refusing to overwrite it with a full stream: give another target, or remove it if it holds nothing you need (if it was received with --state elsewhere, give that --state)`,
    );
  const job: Job = {
    v,
    target,
    statePath,
    stateBefore,
    state,
    resumed,
    now: {
      format: 1 as const,
      ...(options.label ? { target: label } : {}),
      pool: hex(header.pool),
      device_id: header.deviceId,
      block_size: header.blockSize,
      size: header.virtualSize,
    },
  };
  if (isFile && !header.incremental) return fullIntoFile(job, st);
  return inPlace(job, st, isFile);
}

interface Job {
  v: VerifiedStream;
  target: string;
  statePath: string;
  /** The state record's bytes before this receive, put back if it fails before the target changed. */
  stateBefore: Uint8Array | undefined;
  state: TargetState | undefined;
  resumed: boolean;
  /** The state record's fields that say what the stream is. */
  now: Omit<TargetState, 'identity' | 'applied_at' | 'applying'>;
}

const applying = (j: Job, partial?: string): TargetState => ({
  ...j.now,
  identity: j.state?.identity ?? '',
  applied_at: j.state?.applied_at ?? '',
  applying: {
    identity: hex(j.v.header.identity),
    base_identity: j.v.header.incremental ? hex(j.v.header.baseIdentity) : null,
    ...(partial ? { partial } : {}),
  },
});

const applied = (j: Job): TargetState => ({ ...j.now, identity: hex(j.v.header.identity), applied_at: new Date().toISOString() });

/**
 * A full stream into a file: written into a file beside the target (sized
 * and checked against the free space first), renamed over it when complete.
 */
async function fullIntoFile(j: Job, st: Stats | undefined): Promise<ReceiveResult> {
  const { v, target } = j;
  const real = st && lstatSync(target).isSymbolicLink() ? realpathSync(target) : target;
  const dir = dirname(real);
  // What a killed receive of this same stream was writing (its record names it) goes before the free space is counted.
  const left = j.state?.applying?.partial;
  if (j.resumed && left && dirname(left) === resolve(dir) && basename(left).startsWith(`.${basename(real)}.dmthin-partial-`)) rmSync(left, { force: true });
  checkFree(dir, v.dataBlocks * v.header.blockSize, target);
  const partial = partialPath(real, process.pid);
  let fd: number | undefined;
  let recorded = false;
  let renamed = false;
  try {
    try {
      fd = openSync(partial, 'w', st ? st.mode & 0o7777 : 0o644);
    } catch (e) {
      throw new UsageError(`cannot write ${target}: ${errnoWords(e)} (writing ${partial})`);
    }
    try {
      ftruncateSync(fd, v.header.virtualSize);
    } catch (e) {
      throw tooLarge(target, v.header.virtualSize, e);
    }
    // Recorded whole: a resume from another directory finds it.
    writeState(j.statePath, applying(j, resolve(partial)));
    recorded = true;
    const w = await writeRecords(j, fd, false);
    fsyncSync(fd);
    if (st) fchmodSync(fd, st.mode & 0o7777);
    closeSync(fd);
    fd = undefined;
    renameSync(partial, real);
    renamed = true;
    writeState(j.statePath, applied(j));
    return result(j, w, { ok: true }, 0, true);
  } catch (e) {
    if (!renamed) {
      if (fd !== undefined) closeSync(fd);
      rmSync(partial, { force: true });
      // The target is as it was: so is its record.
      if (recorded) restoreState(j.statePath, j.stateBefore);
    }
    throw e;
  }
}

/** An incremental stream into a file, or any stream into a device: written in place, record by record. */
async function inPlace(j: Job, st: Stats | undefined, isFile: boolean): Promise<ReceiveResult> {
  const { v, target } = j;
  const { header } = v;
  if (isFile && st && header.virtualSize > st.size)
    probeFileSize(st && lstatSync(target).isSymbolicLink() ? realpathSync(target) : target, header.virtualSize, target);
  let fd: number;
  try {
    fd = openSync(target, st ? 'r+' : 'w');
  } catch (e) {
    throw new UsageError(`cannot write ${target}: ${errnoWords(e)}`);
  }
  let changed = false;
  let recorded = false;
  try {
    const fst = fstatSync(fd);
    if (!isFile && (fst.isFile() ? fst.size : probeSize(fd)) < header.virtualSize) {
      throw new UsageError(`${target} is smaller than the ${header.virtualSize} bytes the stream's device has`);
    }
    // From here on the target changes: the state record says which stream is being applied.
    writeState(j.statePath, applying(j));
    recorded = true;
    if (isFile && fst.size !== header.virtualSize) ftruncateSync(fd, header.virtualSize);
    changed = true;
    const w = await writeRecords(j, fd, !header.incremental && !isFile);
    const given = unmapRanges(target, isFile ? 'file' : 'device', w.unmap, w.nUnmap);
    // A punched hole reads as zeros; a discarded device range is read back and zeroed where it does not.
    const buf = new Uint8Array(CHUNK);
    let zeroed = 0;
    try {
      if (!given.ok || !isFile) for (let i = 0; i < w.nUnmap; i++) zeroed += zeroOut(fd, w.unmap[2 * i], w.unmap[2 * i + 1], buf, given.ok);
    } catch (e) {
      throw fileError('write zeros into', target, e);
    }
    // On disk before the state record says the target holds the new snapshot.
    fsyncSync(fd);
    writeState(j.statePath, applied(j));
    return result(j, w, given, zeroed, isFile);
  } catch (e) {
    if (recorded && !changed) restoreState(j.statePath, j.stateBefore);
    // Part way through: the state record names this stream, and only it can finish the target (docs/send.md).
    const why = e instanceof UsageError ? e.message : (e as NodeJS.ErrnoException)?.code ? fileError('write', target, e).message : undefined;
    if (changed && why !== undefined)
      throw new UsageError(`${why}; ${target} is part way through this stream: once the cause is mended, give the same stream again to finish it`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

interface Written {
  dataBlocks: number;
  zeroBlocks: number;
  /** Byte ranges [offset, length] to give back (discarded runs, and a device's runs no record of a full stream covers). */
  unmap: Float64Array;
  nUnmap: number;
}

/** The second walk of the stream, writing its data records into `fd`; `fillGaps`: the runs between records are to read as zeros too. */
async function writeRecords(j: Job, fd: number, fillGaps: boolean): Promise<Written> {
  const { header, name, path } = j.v;
  const bs = header.blockSize;
  // Discarded runs are given back after the data is written: one call for them all (io/unmap.ts).
  let unmap = new Float64Array(256);
  let nUnmap = 0;
  const giveBack = (first: number, count: number): void => {
    if (2 * nUnmap + 2 > unmap.length) unmap = grow(unmap, 2 * nUnmap + 2);
    unmap[2 * nUnmap] = first * bs;
    unmap[2 * nUnmap + 1] = count * bs;
    nUnmap++;
  };
  let next = 0;
  // Writes go out on libuv's threads while the next records are read and checked; each holds the reader's
  // buffer its bytes are in until it is done.
  const writing = new Set<Promise<void>>();
  let writeError: unknown;
  const r = await walk(path, name, (kind, first, count, parts, offset = 0) => {
    if (offset === 0) {
      if (fillGaps && first > next) giveBack(next, first - next);
      next = first + count;
    }
    if (kind === 'zero') {
      giveBack(first, count);
      return undefined;
    }
    let pos = first * bs + offset;
    const ws: Promise<void>[] = [];
    for (const part of must(parts, 'the bytes of a data record')) {
      ws.push(writeFullAsync(fd, part, part.length, pos));
      pos += part.length;
    }
    const p: Promise<void> = Promise.all(ws).then(
      () => {
        writing.delete(p);
      },
      (e) => {
        writeError ??= e;
        writing.delete(p);
      },
    );
    writing.add(p);
    return p;
  }).finally(() => Promise.all(writing));
  if (writeError) throw fileError('write', j.target, writeError);
  if (fillGaps && next < header.virtualSize / bs) giveBack(next, header.virtualSize / bs - next);
  return { dataBlocks: r.dataBlocks, zeroBlocks: r.zeroBlocks, unmap, nUnmap };
}

function result(j: Job, w: Written, given: { ok: true } | { ok: false; why: string }, zeroed: number, isFile: boolean): ReceiveResult {
  return {
    target: j.target,
    incremental: j.v.header.incremental,
    identity: hex(j.v.header.identity),
    dataBlocks: w.dataBlocks,
    zeroBlocks: w.zeroBlocks,
    resumed: j.resumed,
    discardedAs: given.ok ? (isFile ? 'holes' : 'discards') : 'zeros',
    zeroBytesWritten: zeroed,
    ...(given.ok ? {} : { unmapRefused: given.why }),
  };
}
