/**
 * What can be wrong with a tree, as data: which tree (and device), which
 * block, which key range it costs, and a stable code per kind of problem.
 * check turns these into findings (`check --json` prints the code), repair
 * into holes; nobody parses a message to learn the device or the range.
 */
import { BlockNumberError, ChecksumError, FieldError, MetadataError, OutOfRangeError } from '../../format/errors.js';

/** Keys [lo, hi); hi is Infinity for "to the end". */
export interface KeyRange {
  lo: number;
  hi: number;
}

/** "lo..hi-1", or "lo..end" when the range is open. */
export function rangeText(r: KeyRange): string {
  return `${r.lo}..${r.hi === Infinity ? 'end' : r.hi - 1}`;
}

/** Every key: a whole tree lost. */
export function isWholeRange(r: KeyRange): boolean {
  return r.lo === 0 && r.hi === Infinity;
}

/** The trees of a pool's metadata. */
export type TreeKind = 'details' | 'top-level' | 'mappings' | 'data-index' | 'data-ref-counts' | 'metadata-ref-counts';

export interface TreeId {
  kind: TreeKind;
  /** The thin device whose mapping tree this is. */
  devId?: number;
  /** A tree of the held metadata snapshot. */
  snapshot?: boolean;
}

/** How messages name a tree ("thin device 3 mappings"). */
export function treeName(t: TreeId): string {
  const snap = t.snapshot ? 'metadata snapshot: ' : '';
  switch (t.kind) {
    case 'details':
      return `${snap}device details tree`;
    case 'top-level':
      return `${snap}mapping tree top level`;
    case 'mappings':
      return `${snap}thin device ${t.devId} mappings`;
    case 'data-index':
      return `${snap}data space map index tree`;
    case 'data-ref-counts':
      return `${snap}data space map ref-count tree`;
    case 'metadata-ref-counts':
      return `${snap}metadata space map ref-count tree`;
  }
}

/**
 * One code per kind of tree problem; stable: scripts read them from
 * `check --json` (docs/check.md lists them).
 */
export const TREE_PROBLEM_CODES = [
  'node-checksum',
  'node-blocknr',
  'node-header',
  'node-value-size',
  'node-pointer-past-end',
  'node-cycle',
  'node-empty',
  'keys-out-of-order',
  'key-outside-parent-range',
  'node-underfull',
  'leaf-values',
] as const;
export type TreeProblemCode = (typeof TREE_PROBLEM_CODES)[number];

export interface TreeProblem {
  code: TreeProblemCode;
  /** The node at fault (for a pointer past the end: the pointer itself). */
  block: number;
  tree: TreeId;
  /** Keys of the entries followed from the root to reach the block. */
  path: readonly number[];
  /** The keys the problem costs: everything under the node, as its parent bounded it. */
  range: KeyRange;
  /** What is wrong, one line, without the block ("keys out of order: ..."). */
  detail: string;
  /** "block N: " + detail. */
  message: string;
  /** The typed error the node's codec raised, when one did. */
  cause?: MetadataError;
}

/** A problem at `block`; its message is "block N: " + detail, the one form every reader uses. */
export function treeProblem(
  code: TreeProblemCode,
  block: number,
  tree: TreeId,
  range: KeyRange,
  detail: string,
  cause?: MetadataError,
  path: readonly number[] = [],
): TreeProblem {
  return { code, block, tree, path, range, detail, message: `block ${block}: ${detail}`, cause };
}

/** The code for an error validateNode raised. */
export function codeOfNodeError(e: MetadataError): TreeProblemCode {
  if (e instanceof ChecksumError) return 'node-checksum';
  if (e instanceof BlockNumberError) return 'node-blocknr';
  if (e instanceof OutOfRangeError) return 'node-pointer-past-end';
  if (e instanceof FieldError && e.field === 'value_size') return 'node-value-size';
  return 'node-header';
}

/** A tree problem met where the caller needs every node intact (dump, ls, delta...). */
export class TreeError extends MetadataError {
  constructor(readonly problem: TreeProblem) {
    super(problem.block, problem.detail);
  }
}

/** The error a strict reader throws: the codec's own when there is one. */
export function strictError(p: TreeProblem): MetadataError {
  return p.cause ?? new TreeError(p);
}
