/**
 * A target's state record (TARGET.dmthin-state, or --state): JSON saying
 * which snapshot the target holds, and while a stream is being applied,
 * which one. Read with every field checked (a record that is not one is
 * refused, never half believed), written beside and renamed over, so that
 * it is always the old record or the new one.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { errnoWords, kindOf } from '../io/files.js';
import { partialPath } from '../io/output-file.js';

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
  applying?: {
    identity: string;
    base_identity: string | null;
    /** A full stream into a file is written here, beside the target, and renamed over it when complete. */
    partial?: string;
  };
}

/** A state record is a few hundred bytes: anything much larger is not one (and is not read into memory). */
const MAX_STATE_BYTES = 64 << 10;

/** The record's bytes, or undefined when there is none; refuses what is not a regular file of a plausible size. */
export function readStateBytes(path: string): Buffer | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`cannot read state record ${path}: ${errnoWords(e)}`);
  }
  if (!st.isFile()) throw new UsageError(`state record ${path} is ${kindOf(st)}: give a regular file (or a path where none is yet)`);
  if (st.size > MAX_STATE_BYTES) throw new UsageError(`state record ${path} is ${st.size} bytes: not a dmthin state record (a few hundred bytes)`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UsageError(`cannot read state record ${path}: ${errnoWords(e)}`);
  }
  try {
    const n = Math.min(fstatSync(fd).size, MAX_STATE_BYTES);
    const b = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const k = readSync(fd, b, got, n - got, got);
      if (k <= 0) break;
      got += k;
    }
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

const isHex = (s: unknown, empty: boolean): boolean => typeof s === 'string' && (/^[0-9a-f]{64}$/.test(s) || (empty && s === ''));
const isCount = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** What is wrong with a parsed record, or undefined when every field is as receive writes it. */
function stateProblem(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'not a JSON object';
  const r = s as Record<string, unknown>;
  if (r.format !== 1) return `format is ${JSON.stringify(r.format)}: expected 1`;
  if (!isHex(r.pool, false)) return 'pool: expected 64 hex digits';
  if (!isCount(r.device_id)) return 'device_id: expected a whole number';
  if (!isHex(r.identity, true)) return 'identity: expected 64 hex digits';
  if (!isCount(r.block_size)) return 'block_size: expected a whole number';
  if (!isCount(r.size)) return 'size: expected a whole number';
  if (typeof r.applied_at !== 'string') return 'applied_at: expected a string';
  if (r.target !== undefined && typeof r.target !== 'string') return 'target: expected a string';
  if (r.applying !== undefined) {
    const a = r.applying as Record<string, unknown> | null;
    if (typeof a !== 'object' || a === null) return 'applying: expected an object';
    if (!isHex(a.identity, false)) return 'applying.identity: expected 64 hex digits';
    if (a.base_identity !== null && !isHex(a.base_identity, false)) return 'applying.base_identity: expected 64 hex digits or null';
    if (a.partial !== undefined && typeof a.partial !== 'string') return 'applying.partial: expected a string';
  }
  return undefined;
}

export function readState(path: string): TargetState | undefined {
  const b = readStateBytes(path);
  if (b === undefined) return undefined;
  let s: unknown;
  let problem: string | undefined;
  try {
    s = JSON.parse(b.toString('utf8'));
    problem = stateProblem(s);
  } catch {
    problem = 'not JSON';
  }
  if (problem !== undefined) {
    throw new UsageError(
      `state record ${path} is not one dmthin wrote (${problem}): the target's state is unknown; move it away only if you know what the target holds`,
    );
  }
  return s as TargetState;
}

/** Writes `content` beside `path`, syncs it and renames it over `path`: the record is the old one or the new one, never half of either. */
function replace(path: string, content: string | Uint8Array): void {
  const tmp = partialPath(path, process.pid);
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeFileSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never made.
    }
    throw new UsageError(`cannot write state record ${path}: ${errnoWords(e)}`);
  }
}

export function writeState(path: string, s: TargetState): void {
  replace(path, `${JSON.stringify(s, null, 2)}\n`);
}

/** Puts back the record as it was (`bytes`), or removes it when there was none: a receive that failed before writing the target. */
export function restoreState(path: string, bytes: Uint8Array | undefined): void {
  if (bytes) replace(path, bytes);
  else {
    try {
      unlinkSync(path);
    } catch {
      // Never written.
    }
  }
}
