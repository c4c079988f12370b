import { nodeSet } from '../../pdata/btree/node-set.js';
import { type Metadata, type ThinDevice, noSuchDevice } from '../metadata.js';
import { RunStream } from '../runs.js';

export interface DeltaSink {
  leftOnly(vbegin: number, dbegin: number, len: number): void;
  rightOnly(vbegin: number, dbegin: number, len: number): void;
  differ(vbegin: number, leftDbegin: number, rightDbegin: number, len: number): void;
  same(vbegin: number, dbegin: number, len: number): void;
  complete(): void;
}

/** The mapping roots of both devices; throws naming the one that is missing. */
export function deltaRoots(md: Metadata, left: number, right: number): [number, number] {
  const devices = md.devices();
  return [rootOf(devices, left, '--snap1'), rootOf(devices, right, '--snap2')];
}

function rootOf(devices: ThinDevice[], devId: number, side: string): number {
  const d = devices.find((x) => x.devId === devId);
  if (!d || d.mappingRoot === undefined) throw noSuchDevice(devId, devices, `${side}: `);
  return d.mappingRoot;
}

export interface DeltaOptions {
  /**
   * Skip, unread, the subtrees both devices share (node-set.ts): only the
   * leaves that differ are read. `same` is then called for the shared
   * entries found in unshared leaves only; thin_delta's output, which lists
   * every range, needs them all.
   */
  skipShared?: boolean;
}

export type DeltaKind = 'leftOnly' | 'rightOnly' | 'differ' | 'same';

/**
 * The delta as a pull iterator: each next() gives one range (kind, first
 * virtual block v, data blocks l and r on each side, length n), in
 * virtual block order. For callers that pace the walk themselves (send's
 * writes); `delta` drives it into a sink.
 */
export class DeltaStream {
  kind: DeltaKind = 'same';
  v = 0;
  l = 0;
  r = 0;
  n = 0;
  /** Subtrees skipped unread (with `skipShared`), counted on each side. */
  skipped = 0;
  private readonly ls: RunStream | undefined;
  private readonly rs: RunStream | undefined;

  /** `roots` from deltaRoots, when the caller already looked them up. */
  constructor(md: Metadata, left: number, right: number, roots = deltaRoots(md, left, right), options: DeltaOptions = {}) {
    const [l, r] = roots;
    if (options.skipShared && l === r) {
      this.skipped = 1; // one tree: nothing differs
      return;
    }
    if (options.skipShared) {
      const lset = nodeSet(md.reader, l, { kind: 'mappings', devId: left });
      const rset = nodeSet(md.reader, r, { kind: 'mappings', devId: right });
      const skip = (set: Set<number>) => (loc: number) => set.has(loc) && ++this.skipped > 0;
      this.ls = new RunStream(md, l, left, skip(rset));
      this.rs = new RunStream(md, r, right, skip(lset));
    } else {
      this.ls = new RunStream(md, l, left);
      this.rs = new RunStream(md, r, right);
    }
  }

  next(): boolean {
    const ls = this.ls;
    const rs = this.rs;
    if (!ls || !rs) return false;
    if (!ls.done && (rs.done || ls.vbegin < rs.vbegin)) {
      const n = rs.done ? ls.len : Math.min(ls.len, rs.vbegin - ls.vbegin);
      this.set('leftOnly', ls.vbegin, ls.dbegin, 0, n);
      ls.consume(n);
    } else if (!rs.done && (ls.done || rs.vbegin < ls.vbegin)) {
      const n = ls.done ? rs.len : Math.min(rs.len, ls.vbegin - rs.vbegin);
      this.set('rightOnly', rs.vbegin, 0, rs.dbegin, n);
      rs.consume(n);
    } else if (!ls.done && !rs.done) {
      const n = Math.min(ls.len, rs.len);
      this.set(ls.dbegin !== rs.dbegin ? 'differ' : 'same', ls.vbegin, ls.dbegin, rs.dbegin, n);
      ls.consume(n);
      rs.consume(n);
    } else {
      return false;
    }
    return true;
  }

  private set(kind: DeltaKind, v: number, l: number, r: number, n: number): void {
    this.kind = kind;
    this.v = v;
    this.l = l;
    this.r = r;
    this.n = n;
  }
}

/**
 * `roots` from deltaRoots, when the caller already looked them up. Returns
 * how many subtrees were skipped unread (with `skipShared`), counted on each side.
 */
export function delta(md: Metadata, left: number, right: number, sink: DeltaSink, roots = deltaRoots(md, left, right), options: DeltaOptions = {}): number {
  const s = new DeltaStream(md, left, right, roots, options);
  while (s.next()) {
    if (s.kind === 'leftOnly') sink.leftOnly(s.v, s.l, s.n);
    else if (s.kind === 'rightOnly') sink.rightOnly(s.v, s.r, s.n);
    else if (s.kind === 'differ') sink.differ(s.v, s.l, s.r, s.n);
    else sink.same(s.v, s.l, s.n);
  }
  sink.complete();
  return s.skipped;
}
