/**
 * `dmthin receive`: applies a stream (format.ts) to a raw image file or
 * block device. The stream is verified whole first (header, every record's
 * CRC, the end record's totals and stream checksum, the base against the target's
 * state record); only then is the target written, record by record, and
 * the state record made current. While applying, the state record names
 * the stream being applied: a receive killed then leaves the target
 * resumable with that same stream, and refuses any other.
 *
 * A stream from standard input is staged in a file beside the target while
 * it is verified (it cannot be read twice); a stream file is read twice.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { UsageError } from '../errors.js';
import { probeDeviceSize as probeSize } from '../io/byte-source.js';
import { readUpTo, writeFull } from '../io/full-io.js';
import { unmapRanges, zeroOut } from '../io/unmap.js';
import { grow } from '../pdata/grow.js';
import { D_HEAD, E_SIZE, HEADER_SIZE, RECORD, type StreamHeader, Z_SIZE, chain, crc32, parseHeader } from './format.js';
import { StreamError } from './errors.js';
import { hex } from './identity.js';

export interface TargetState {
  format: 1;
  pool: string;
  device_id: number;
  /** The snapshot identity the target now holds. */
  identity: string;
  block_size: number;
  size: number;
  applied_at: string;
  /** What the target is, when it is not the file beside the record (a thin device of a pool). */
  target?: string;
  /** Set while a stream is being applied: only that stream may be applied next. */
  applying?: { identity: string; base_identity: string | null };
}

export interface ReceiveOptions {
  /** The state record (default: TARGET.dmthin-state). */
  state?: string;
  /**
   * Treat a file target as a block device is treated: not truncated, and
   * written with zeros where a full stream has no record (a device keeps
   * its old bytes there). Tests use it to drive the block-device path.
   */
  asDevice?: boolean;
  /** Names the target in messages and the state record (a thin device reached through a temporary dm device). */
  label?: string;
}

export interface ReceiveResult {
  target: string;
  incremental: boolean;
  identity: string;
  data_blocks: number;
  zero_blocks: number;
  resumed: boolean;
  /**
   * How discarded runs became zeros: holes punched in a file, discards sent
   * to a device (read back, zeroed where they did not read as zeros), or
   * zeros written (holes or discards refused: `unmap_refused` says why).
   */
  discarded_as: 'holes' | 'discards' | 'zeros';
  zero_bytes_written: number;
  unmap_refused?: string;
}

const CHUNK = 1 << 20;

/** Reads the stream at `path` sequentially, in exact-size pieces. */
class Reader {
  private readonly fd: number;
  offset = 0;
  constructor(
    readonly path: string,
    private readonly name: string,
  ) {
    this.fd = openSync(path, 'r');
  }
  read(n: number, into?: Uint8Array): Uint8Array {
    const b = into ? into.subarray(0, n) : new Uint8Array(n);
    const got = readUpTo(this.fd, b, n, this.offset);
    if (got < n) throw new StreamError(this.name, this.offset + got, `the stream ends early (truncated?): ${n - got} more bytes expected`);
    this.offset += n;
    return b;
  }
  atEnd(): boolean {
    return readUpTo(this.fd, new Uint8Array(1), 1, this.offset) === 0;
  }
  close(): void {
    closeSync(this.fd);
  }
}

type Apply = (kind: 'data' | 'zero', first: number, count: number, bytes?: Uint8Array) => void;

/** Walks the whole stream, checking every CRC and the end record; calls `apply` for each record when given. */
function walk(path: string, name: string, apply?: Apply): { header: StreamHeader; dataBlocks: number; zeroBlocks: number } {
  const r = new Reader(path, name);
  try {
    const head = r.read(HEADER_SIZE);
    const header = parseHeader(head, name);
    let sum = chain(0, new DataView(head.buffer, head.byteOffset).getUint32(HEADER_SIZE - 4, true));
    const bs = header.blockSize;
    const maxBlock = header.virtualSize / bs;
    const buf = new Uint8Array(Math.max(CHUNK, bs));
    let dataBlocks = 0;
    let zeroBlocks = 0;
    let records = 0;
    let next = 0; // records come in block order and never overlap
    for (;;) {
      const at = r.offset;
      const type = r.read(1)[0]!;
      if (type === RECORD.end) {
        const rest = r.read(E_SIZE - 1);
        const e = new Uint8Array(E_SIZE);
        e[0] = type;
        e.set(rest, 1);
        const v = new DataView(e.buffer);
        if (v.getUint32(29, true) !== crc32(e.subarray(0, 29))) throw new StreamError(name, at, 'end record checksum');
        if (v.getUint32(25, true) !== sum)
          throw new StreamError(name, at, 'the stream checksum differs from the one its end record holds (records missing, repeated or reordered)');
        const [d, z, n] = [Number(v.getBigUint64(1, true)), Number(v.getBigUint64(9, true)), Number(v.getBigUint64(17, true))];
        if (d !== dataBlocks || z !== zeroBlocks || n !== records) {
          throw new StreamError(
            name,
            at,
            `totals: the end record says ${d} data blocks, ${z} discarded, ${n} records; the stream held ${dataBlocks}, ${zeroBlocks}, ${records}`,
          );
        }
        if (!r.atEnd()) throw new StreamError(name, r.offset, 'bytes after the end record');
        return { header, dataBlocks, zeroBlocks };
      }
      if (type === RECORD.data) {
        const h = new Uint8Array(D_HEAD);
        h[0] = type;
        h.set(r.read(D_HEAD - 1), 1);
        const v = new DataView(h.buffer);
        const first = Number(v.getBigUint64(1, true));
        const count = v.getUint32(9, true);
        if (count === 0 || first < next || first + count > maxBlock || count * bs > buf.length) {
          throw new StreamError(
            name,
            at,
            `data record for blocks ${first}..${first + count - 1} is out of order, empty, too large or past the device's ${maxBlock} blocks`,
          );
        }
        const body = r.read(count * bs, buf);
        const stored = new DataView(r.read(4).buffer).getUint32(0, true);
        const crc = crc32(body, crc32(h));
        if (stored !== crc)
          throw new StreamError(
            name,
            at,
            `data record for blocks ${first}..${first + count - 1}: checksum stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}`,
          );
        sum = chain(sum, stored);
        apply?.('data', first, count, body);
        dataBlocks += count;
        next = first + count;
      } else if (type === RECORD.zero) {
        const z = new Uint8Array(Z_SIZE);
        z[0] = type;
        z.set(r.read(Z_SIZE - 1), 1);
        const v = new DataView(z.buffer);
        if (v.getUint32(17, true) !== crc32(z.subarray(0, 17))) throw new StreamError(name, at, 'discard record checksum');
        const first = Number(v.getBigUint64(1, true));
        const count = Number(v.getBigUint64(9, true));
        if (count === 0 || first < next || first + count > maxBlock)
          throw new StreamError(name, at, `discard record for blocks ${first}..${first + count - 1} is out of order, empty or past the device`);
        sum = chain(sum, v.getUint32(17, true));
        apply?.('zero', first, count);
        zeroBlocks += count;
        next = first + count;
      } else {
        throw new StreamError(name, at, `unknown record type 0x${type.toString(16)}`);
      }
      records++;
    }
  } finally {
    r.close();
  }
}

export function readState(path: string): TargetState | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TargetState;
  } catch (e) {
    throw new UsageError(
      `state record ${path} cannot be read (${(e as Error).message}): the target's state is unknown; move it away only if you know what the target holds`,
    );
  }
}

function writeState(path: string, s: TargetState): void {
  // Written beside it, synced, then renamed over it: the record is the old one or the new one, never half of either.
  const tmp = join(dirname(path), `.${basename(path)}.dmthin-partial-${process.pid}`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeFileSync(fd, `${JSON.stringify(s, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** A stream read whole and verified (every CRC, the totals, the stream checksum), ready to apply. */
export interface VerifiedStream {
  /** Where it is read from: the file given, or standard input staged in a file. */
  path: string;
  /** What messages call it. */
  name: string;
  header: StreamHeader;
  /** Removes a staged copy of standard input. */
  close(): void;
}

/** Reads and verifies the stream at `streamPath` ('-': standard input, staged in `stageDir` since it cannot be read twice). */
export function openStream(streamPath: string, stageDir: string): VerifiedStream {
  const name = streamPath === '-' ? 'standard input' : streamPath;
  let staged: string | undefined;
  let path = streamPath;
  if (streamPath === '-') {
    staged = join(stageDir, `.dmthin-stream-${process.pid}`);
    const out = openSync(staged, 'w', 0o600);
    try {
      const b = new Uint8Array(CHUNK);
      for (;;) {
        let n: number;
        try {
          n = readSync(0, b, 0, b.length, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
          if ((e as NodeJS.ErrnoException).code === 'EOF') break;
          throw e;
        }
        if (n <= 0) break;
        writeFull(out, b, n, null);
      }
    } finally {
      closeSync(out);
    }
    path = staged;
  }
  const close = (): void => {
    if (staged) rmSync(staged, { force: true });
  };
  try {
    return { path, name, header: walk(path, name).header, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Applies the stream at `streamPath` ('-' for standard input) to `target`. */
export function receive(streamPath: string, target: string, options: ReceiveOptions = {}): ReceiveResult {
  const v = openStream(streamPath, dirname(options.state ?? target));
  try {
    return applyStream(v, target, options);
  } finally {
    v.close();
  }
}

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
    if (state.applying.identity !== identity) {
      throw new UsageError(
        `${target} is half way through applying stream ${state.applying.identity.slice(0, 16)}...: give that stream again to finish it (this one is ${identity.slice(0, 16)}...)`,
      );
    }
    resumed = true;
  } else if (header.incremental) {
    if (!state || !targetExists)
      throw new UsageError(
        `${name} is incremental (base ${baseIdentity!.slice(0, 16)}...), but ${target} has no state record (${statePath}): receive the full stream first`,
      );
    if (state.identity !== baseIdentity) {
      const holds = `${target} holds thin ${state.device_id} as received at ${state.applied_at} (${state.identity.slice(0, 16)}...)`;
      const base = `${name}'s base is thin ${header.baseDeviceId} (${baseIdentity!.slice(0, 16)}...)`;
      const advice =
        header.baseDeviceId === state.device_id
          ? `thin ${state.device_id} has changed since it was sent (written to, or its pool's metadata repaired or restored): send a full stream`
          : `send with --base ${state.device_id}, or a full stream`;
      throw new UsageError(`${base}, but ${holds}: not applying it; ${advice}`);
    }
    if (state.block_size !== header.blockSize) {
      throw new UsageError(`${name} has blocks of ${header.blockSize} bytes; ${target} was received with ${state.block_size}`);
    }
  }
  return { state, resumed };
}

/** Applies a verified stream to `target`, a file or block device. */
export function applyStream(v: VerifiedStream, target: string, options: ReceiveOptions = {}): ReceiveResult {
  const statePath = options.state ?? `${target}.dmthin-state`;
  const label = options.label ?? target;
  const { header, name, path } = v;
  const identity = hex(header.identity);
  const baseIdentity = header.incremental ? hex(header.baseIdentity) : null;
  const targetExists = existsSync(target);
  const { state, resumed } = admit(v, label, statePath, targetExists);
  if (!state && !header.incremental && targetExists) {
    const st = statSync(target);
    if (st.isFile() && st.size > 0 && !options.asDevice)
      throw new UsageError(`${target} exists and was not made by dmthin receive (no ${statePath}): refusing to overwrite it with a full stream`);
  }
  const now = {
    format: 1 as const,
    ...(options.label ? { target: label } : {}),
    pool: hex(header.pool),
    device_id: header.deviceId,
    block_size: header.blockSize,
    size: header.virtualSize,
  };
  const fd = openSync(target, targetExists ? 'r+' : 'w');
  try {
    const st = fstatSync(fd);
    const isFile = st.isFile() && !options.asDevice;
    if (!isFile && (st.isFile() ? st.size : probeSize(fd)) < header.virtualSize) {
      throw new UsageError(`${target} is smaller than the ${header.virtualSize} bytes the stream's device has`);
    }
    // From here on the target changes: the state record says which stream is being applied.
    writeState(statePath, {
      ...now,
      identity: state?.identity ?? '',
      applied_at: state?.applied_at ?? '',
      applying: { identity, base_identity: baseIdentity },
    });
    if (isFile) {
      if (!header.incremental) ftruncateSync(fd, 0); // a full stream: the target starts empty (holes)
      ftruncateSync(fd, header.virtualSize);
    }
    const bs = header.blockSize;
    // Discarded runs (and, for a full stream into a device, the runs no record covers) are given back after the data
    // is written: one call for them all (io/unmap.ts).
    let unmap = new Float64Array(256);
    let nUnmap = 0;
    const giveBack = (first: number, count: number): void => {
      if (2 * nUnmap + 2 > unmap.length) unmap = grow(unmap, 2 * nUnmap + 2);
      unmap[2 * nUnmap] = first * bs;
      unmap[2 * nUnmap + 1] = count * bs;
      nUnmap++;
    };
    const fillGaps = !header.incremental && !isFile;
    let next = 0;
    const r = walk(path, name, (kind, first, count, bytes) => {
      if (fillGaps && first > next) giveBack(next, first - next);
      if (kind === 'data') writeFull(fd, bytes!, count * bs, first * bs);
      else giveBack(first, count);
      next = first + count;
    });
    if (fillGaps && next < header.virtualSize / bs) giveBack(next, header.virtualSize / bs - next);
    const given = unmapRanges(target, isFile ? 'file' : 'device', unmap, nUnmap);
    // A punched hole reads as zeros; a discarded device range is read back and zeroed where it does not.
    const buf = new Uint8Array(CHUNK);
    let zeroed = 0;
    if (!given.ok || !isFile) for (let i = 0; i < nUnmap; i++) zeroed += zeroOut(fd, unmap[2 * i]!, unmap[2 * i + 1]!, buf, given.ok);
    const discardedAs = given.ok ? (isFile ? 'holes' : 'discards') : 'zeros';
    // On disk before the state record says the target holds the new snapshot.
    fsyncSync(fd);
    writeState(statePath, { ...now, identity, applied_at: new Date().toISOString() });
    return {
      target,
      incremental: header.incremental,
      identity,
      data_blocks: r.dataBlocks,
      zero_blocks: r.zeroBlocks,
      resumed,
      discarded_as: discardedAs,
      zero_bytes_written: zeroed,
      ...(given.ok ? {} : { unmap_refused: given.why }),
    };
  } finally {
    closeSync(fd);
  }
}
