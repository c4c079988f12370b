/**
 * What changed between two thin devices, as thin_delta reports it: ranges
 * of virtual blocks that are the same (same data block), different, or
 * mapped on one side only. Both mapping trees are read in step, one leaf at
 * a time; memory does not grow with the number of mappings.
 */
import { UsageError } from '../../errors.js';
import { LeafCursor } from '../../pdata/btree/cursor.js';
import { nodeSet } from '../../pdata/btree/node-set.js';
import type { Metadata, ThinDevice } from '../metadata.js';

export interface DeltaSink {
  leftOnly(vbegin: number, dbegin: number, len: number): void;
  rightOnly(vbegin: number, dbegin: number, len: number): void;
  differ(vbegin: number, leftDbegin: number, rightDbegin: number, len: number): void;
  same(vbegin: number, dbegin: number, len: number): void;
  complete(): void;
}

/**
 * Runs of one device: consecutive virtual blocks on consecutive data
 * blocks. Times are ignored, as thin_delta ignores them.
 */
class RunStream {
  private readonly cursor: LeafCursor;
  private nextV = -1;
  private nextD = -1;
  done = false;
  vbegin = 0;
  dbegin = 0;
  len = 0;

  constructor(md: Metadata, root: number, devId: number, skip?: (loc: number) => boolean) {
    this.cursor = new LeafCursor(md.reader, root, { kind: 'mappings', devId }, skip);
    if (this.cursor.next()) {
      this.nextV = this.cursor.key;
      this.nextD = this.cursor.dataBlock;
    }
    this.advance();
  }

  /** Loads the next whole run; done when there is none. */
  advance(): void {
    if (this.nextV < 0) {
      this.done = true;
      return;
    }
    this.vbegin = this.nextV;
    this.dbegin = this.nextD;
    this.len = 1;
    this.nextV = -1;
    while (this.cursor.next()) {
      const v = this.cursor.key;
      const d = this.cursor.dataBlock;
      if (v === this.vbegin + this.len && d === this.dbegin + this.len) {
        this.len++;
      } else {
        this.nextV = v;
        this.nextD = d;
        break;
      }
    }
  }

  consume(n: number): void {
    if (n === this.len) this.advance();
    else {
      this.vbegin += n;
      this.dbegin += n;
      this.len -= n;
    }
  }
}

/** The mapping roots of both devices; throws naming the one that is missing. */
export function deltaRoots(md: Metadata, left: number, right: number): [number, number] {
  const devices = md.devices();
  return [rootOf(devices, left, '--snap1'), rootOf(devices, right, '--snap2')];
}

function rootOf(devices: ThinDevice[], devId: number, side: string): number {
  const d = devices.find((x) => x.devId === devId);
  if (!d || d.mappingRoot === undefined) throw new UsageError(`${side}: no thin device ${devId} in the metadata`);
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

/**
 * `roots` from deltaRoots, when the caller already looked them up. Returns
 * how many subtrees were skipped unread (with `skipShared`), counted on each side.
 */
export function delta(md: Metadata, left: number, right: number, sink: DeltaSink, roots = deltaRoots(md, left, right), options: DeltaOptions = {}): number {
  const [l, r] = roots;
  let skipped = 0;
  if (options.skipShared && l === r) {
    sink.complete(); // one tree: nothing differs
    return 1;
  }
  let ls: RunStream;
  let rs: RunStream;
  if (options.skipShared) {
    const lset = nodeSet(md.reader, l, { kind: 'mappings', devId: left });
    const rset = nodeSet(md.reader, r, { kind: 'mappings', devId: right });
    const skip = (set: Set<number>) => (loc: number) => set.has(loc) && ++skipped > 0;
    ls = new RunStream(md, l, left, skip(rset));
    rs = new RunStream(md, r, right, skip(lset));
  } else {
    ls = new RunStream(md, l, left);
    rs = new RunStream(md, r, right);
  }
  while (!ls.done && !rs.done) {
    if (ls.vbegin < rs.vbegin) {
      const n = Math.min(ls.len, rs.vbegin - ls.vbegin);
      sink.leftOnly(ls.vbegin, ls.dbegin, n);
      ls.consume(n);
    } else if (ls.vbegin > rs.vbegin) {
      const n = Math.min(rs.len, ls.vbegin - rs.vbegin);
      sink.rightOnly(rs.vbegin, rs.dbegin, n);
      rs.consume(n);
    } else {
      const n = Math.min(ls.len, rs.len);
      if (ls.dbegin !== rs.dbegin) sink.differ(ls.vbegin, ls.dbegin, rs.dbegin, n);
      else sink.same(ls.vbegin, ls.dbegin, n);
      ls.consume(n);
      rs.consume(n);
    }
  }
  while (!ls.done) {
    sink.leftOnly(ls.vbegin, ls.dbegin, ls.len);
    ls.consume(ls.len);
  }
  while (!rs.done) {
    sink.rightOnly(rs.vbegin, rs.dbegin, rs.len);
    rs.consume(rs.len);
  }
  sink.complete();
  return skipped;
}
