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
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { probeDeviceSize as probeSize } from '../io/byte-source.js';
import { writeFull, writeFullAsync } from '../io/full-io.js';
import { ChunkReader, MAX_TAKE } from '../io/chunk-reader.js';
import { partialPath } from '../io/output-file.js';
import { unmapRanges, zeroOut } from '../io/unmap.js';
import { grow } from '../pdata/grow.js';
import { D_HEAD, E_SIZE, HEADER_SIZE, MAX_RECORD_BYTES, RECORD, type StreamHeader, Z_SIZE, chain, crc32, parseHeader } from './format.js';
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

/** Bytes of `parts` (views from ChunkReader.take) as one array: small fixed-size fields only. */
function joined(parts: readonly Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const b = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    b.set(p, at);
    at += p.length;
  }
  return b;
}

/** `parts` cut at byte `at`: the views before it, and the bytes after it (a few) as one array. */
function split(parts: readonly Uint8Array[], at: number): [Uint8Array[], Uint8Array] {
  const before: Uint8Array[] = [];
  const after: Uint8Array[] = [];
  let pos = 0;
  for (const p of parts) {
    if (pos + p.length <= at) before.push(p);
    else if (pos >= at) after.push(p);
    else {
      before.push(p.subarray(0, at - pos));
      after.push(p.subarray(at - pos));
    }
    pos += p.length;
  }
  return [before, joined(after, pos - at)];
}

/** A record to apply: blocks first..first+count-1; for data, `parts` are its bytes from byte `offset` of the record on (a large record comes in several calls). */
type Apply = (kind: 'data' | 'zero', first: number, count: number, parts?: readonly Uint8Array[], offset?: number) => Promise<unknown> | undefined;

/**
 * Walks the whole stream, checking every CRC and the end record; calls
 * `apply` for each record when given. A data record's bytes come as one or
 * two views into the reader's buffers; the promise `apply` returns (its
 * writes) keeps those buffers from being refilled until it settles.
 */
async function walk(path: string, name: string, apply?: Apply): Promise<{ header: StreamHeader; dataBlocks: number; zeroBlocks: number }> {
  const r = new ChunkReader(path);
  const take = async (n: number): Promise<Uint8Array[]> => {
    const at = r.offset;
    const parts = await r.take(n);
    const got = parts.reduce((s, p) => s + p.length, 0);
    if (got < n) throw new StreamError(name, at + got, `the stream ends early (truncated?): ${n - got} more bytes expected`);
    return parts;
  };
  const fixed = async (n: number): Promise<Uint8Array> => joined(await take(n), n);
  try {
    const head = await fixed(HEADER_SIZE);
    const header = parseHeader(head, name);
    let sum = chain(0, new DataView(head.buffer, head.byteOffset).getUint32(HEADER_SIZE - 4, true));
    const bs = header.blockSize;
    const maxBlock = header.virtualSize / bs;
    let dataBlocks = 0;
    let zeroBlocks = 0;
    let records = 0;
    let next = 0; // records come in block order and never overlap
    for (;;) {
      const at = r.offset;
      const type = (await fixed(1))[0]!;
      if (type === RECORD.end) {
        const e = new Uint8Array(E_SIZE);
        e[0] = type;
        e.set(await fixed(E_SIZE - 1), 1);
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
        if (!(await r.atEnd())) throw new StreamError(name, r.offset, 'bytes after the end record');
        return { header, dataBlocks, zeroBlocks };
      }
      if (type === RECORD.data) {
        const h = new Uint8Array(D_HEAD);
        h[0] = type;
        h.set(await fixed(D_HEAD - 1), 1);
        const v = new DataView(h.buffer);
        const first = Number(v.getBigUint64(1, true));
        const count = v.getUint32(9, true);
        if (count === 0 || first < next || first + count > maxBlock || count * bs > Math.max(MAX_RECORD_BYTES, bs)) {
          throw new StreamError(
            name,
            at,
            `data record for blocks ${first}..${first + count - 1} is out of order, empty, too large or past the device's ${maxBlock} blocks`,
          );
        }
        const len = count * bs;
        let crc = crc32(h);
        const mismatch = (stored: number, what: string): StreamError =>
          new StreamError(
            name,
            at,
            `data record for blocks ${first}..${first + count - 1}: checksum stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)}${what}`,
          );
        if (len + 4 <= MAX_TAKE) {
          // Data and CRC in one take (views are good until the next one): checked whole before anything is written.
          const [body, tail] = split(await take(len + 4), len);
          for (const part of body) crc = crc32(part, crc);
          const stored = new DataView(tail.buffer, tail.byteOffset).getUint32(0, true);
          if (stored !== crc) throw mismatch(stored, '');
          sum = chain(sum, stored);
          const writing = apply?.('data', first, count, body, 0);
          if (writing) r.hold(body, writing);
        } else {
          // Blocks larger than the reader's buffers: piece by piece. Applying, each piece is written as it comes; the
          // verifying walk before checked the whole record, so a mismatch now means the stream changed since.
          for (let off = 0; off < len; ) {
            const body = await take(Math.min(MAX_TAKE, len - off));
            for (const part of body) crc = crc32(part, crc);
            const writing = apply?.('data', first, count, body, off);
            if (writing) r.hold(body, writing);
            off += body.reduce((n, p) => n + p.length, 0);
          }
          const stored = new DataView((await fixed(4)).slice().buffer).getUint32(0, true);
          if (stored !== crc) throw mismatch(stored, apply ? ' (the stream changed since it was verified)' : '');
          sum = chain(sum, stored);
        }
        dataBlocks += count;
        next = first + count;
      } else if (type === RECORD.zero) {
        const z = new Uint8Array(Z_SIZE);
        z[0] = type;
        z.set(await fixed(Z_SIZE - 1), 1);
        const v = new DataView(z.buffer);
        if (v.getUint32(17, true) !== crc32(z.subarray(0, 17))) throw new StreamError(name, at, 'discard record checksum');
        const first = Number(v.getBigUint64(1, true));
        const count = Number(v.getBigUint64(9, true));
        if (count === 0 || first < next || first + count > maxBlock)
          throw new StreamError(name, at, `discard record for blocks ${first}..${first + count - 1} is out of order, empty or past the device`);
        sum = chain(sum, v.getUint32(17, true));
        await apply?.('zero', first, count);
        zeroBlocks += count;
        next = first + count;
      } else {
        throw new StreamError(name, at, `unknown record type 0x${type.toString(16)}`);
      }
      records++;
    }
  } finally {
    await r.close();
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
  const tmp = partialPath(path, process.pid);
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
export async function openStream(streamPath: string, stageDir: string): Promise<VerifiedStream> {
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
    return { path, name, header: (await walk(path, name)).header, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** Applies the stream at `streamPath` ('-' for standard input) to `target`. */
export async function receive(streamPath: string, target: string, options: ReceiveOptions = {}): Promise<ReceiveResult> {
  const v = await openStream(streamPath, dirname(options.state ?? target));
  try {
    return await applyStream(v, target, options);
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
export async function applyStream(v: VerifiedStream, target: string, options: ReceiveOptions = {}): Promise<ReceiveResult> {
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
      for (const part of parts!) {
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
    if (writeError) throw writeError;
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
