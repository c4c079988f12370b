/**
 * B-tree node: one 4 KiB block of any tree (dm-btree-internal.h).
 * ```
 *  0 u32 csum         over bytes [4, 4096), salt 121107
 *  4 u32 flags        1 = internal, 2 = leaf
 *  8 u64 blocknr      must equal the block's own location
 * 16 u32 nr_entries
 * 20 u32 max_entries
 * 24 u32 value_size   leaves: the value's size; internal nodes: written as 8, but
 *                     their u64 child pointers are read 8 bytes apart regardless
 * 28 u32 padding
 * 32     keys:   max_entries x u64, strictly increasing; internal: key[i] = lowest key under child i
 * 32+8*max_entries  values: max_entries x value_size
 * ```
 * max_entries = 3 * floor(floor((4096 - 32) / (8 + value_size)) / 3): the
 * kernel keeps it a multiple of 3 so that nodes can be split and merged in
 * thirds (252 for 8-byte values, 126 for device details, 336 for u32).
 */
import { BLOCK_SIZE, Salt, computeChecksum, stampChecksum, storedChecksum } from './checksum.js';
import { BlockNumberError, ChecksumError, FieldError } from './errors.js';
import { getU32, getU64, setU32, setU64 } from './le.js';
import { blockOfHalves, timeOfLow } from './block-time.js';

export const NODE_HEADER_SIZE = 32;
export const INTERNAL_NODE = 1;
export const LEAF_NODE = 2;

export interface NodeHeader {
  csum: number;
  flags: number;
  blocknr: number;
  nrEntries: number;
  maxEntries: number;
  valueSize: number;
}

export function maxEntriesFor(valueSize: number): number {
  const total = Math.floor((BLOCK_SIZE - NODE_HEADER_SIZE) / (8 + valueSize));
  return 3 * Math.floor(total / 3);
}

export function parseNodeHeader(b: Uint8Array): NodeHeader {
  return {
    csum: getU32(b, 0),
    flags: getU32(b, 4),
    blocknr: getU64(b, 8),
    nrEntries: getU32(b, 16),
    maxEntries: getU32(b, 20),
    valueSize: getU32(b, 24),
  };
}

/** Writes the header fields (not the checksum) into `b`. */
export function writeNodeHeader(h: Omit<NodeHeader, 'csum'>, b: Uint8Array): void {
  setU32(b, 4, h.flags);
  setU64(b, 8, h.blocknr);
  setU32(b, 16, h.nrEntries);
  setU32(b, 20, h.maxEntries);
  setU32(b, 24, h.valueSize);
  setU32(b, 28, 0);
}

export function isLeaf(h: NodeHeader): boolean {
  return (h.flags & LEAF_NODE) !== 0;
}

/** Byte offset of key i. */
export function keyOffset(i: number): number {
  return NODE_HEADER_SIZE + 8 * i;
}

export function keyAt(b: Uint8Array, i: number): number {
  return getU64(b, keyOffset(i));
}

export function setKeyAt(b: Uint8Array, i: number, k: number): void {
  setU64(b, keyOffset(i), k);
}

/** Byte offset of value i in a node with `maxEntries` and `valueSize`. */
export function valueOffset(maxEntries: number, valueSize: number, i: number): number {
  return NODE_HEADER_SIZE + 8 * maxEntries + valueSize * i;
}

/** A 64-bit value (child pointer, root, block_time low/high halves via block-time.ts). */
export function u64ValueAt(b: Uint8Array, maxEntries: number, i: number): number {
  return getU64(b, NODE_HEADER_SIZE + 8 * maxEntries + 8 * i);
}

/**
 * Checks what every node must satisfy to be read at all: checksum, blocknr,
 * flags, and header fields that bound the arrays. Throws a typed error
 * naming `location`.
 */
export function validateNode(b: Uint8Array, location: number, expectedValueSize?: number): NodeHeader {
  const expected = computeChecksum(b, Salt.btreeNode);
  const stored = storedChecksum(b);
  if (expected !== stored) throw new ChecksumError(location, 'btree node', expected, stored);
  return validateNodeHeader(b, location, expectedValueSize);
}

/**
 * validateNode without the checksum, for a caller that has already checked
 * it (the block scan classifies every block by its checksum first).
 */
export function validateNodeHeader(b: Uint8Array, location: number, expectedValueSize?: number): NodeHeader {
  return checkNodeHeader(parseNodeHeader(b), location, expectedValueSize);
}

/** The header rules of validateNodeHeader, on fields already decoded (a header or a BTreeNode). */
function checkNodeHeader<H extends Omit<NodeHeader, 'csum'>>(h: H, location: number, expectedValueSize?: number): H {
  if (h.blocknr !== location) throw new BlockNumberError(location, 'btree node', h.blocknr);
  if (h.flags !== INTERNAL_NODE && h.flags !== LEAF_NODE) {
    throw new FieldError(location, 'flags', `${h.flags}, expected 1 (internal) or 2 (leaf)`);
  }
  // Only a leaf's value_size matters: the kernel (value64() in
  // dm-btree-internal.h) and thin_check 1.x read an internal node's child
  // pointers 8 bytes apart whatever its header says.
  if (h.flags === LEAF_NODE && expectedValueSize !== undefined && h.valueSize !== expectedValueSize) {
    throw new FieldError(location, 'value_size', `${h.valueSize}, expected ${expectedValueSize}`);
  }
  if (h.valueSize === 0 || NODE_HEADER_SIZE + h.maxEntries * (8 + h.valueSize) > BLOCK_SIZE) {
    throw new FieldError(location, 'max_entries', `${h.maxEntries} entries of ${h.valueSize} bytes do not fit a block`);
  }
  if (h.maxEntries % 3 !== 0) {
    throw new FieldError(location, 'max_entries', `${h.maxEntries} is not a multiple of 3`);
  }
  if (h.nrEntries > h.maxEntries) {
    throw new FieldError(location, 'nr_entries', `${h.nrEntries} > max_entries ${h.maxEntries}`);
  }
  return h;
}

/**
 * One node block read through its header: the only way code outside
 * format/ reads a node's keys and values. Every accessor goes through an
 * aligned u32 view of the block (a block at an unaligned offset is copied
 * once), so the hot loops over leaves keep typed-array speed and never
 * decode an offset by hand.
 *
 * The view is borrowed: it stays valid as long as the bytes it was made
 * from (block-reader.ts never changes a view it handed out).
 */
export class BTreeNode {
  readonly flags: number;
  readonly blocknr: number;
  readonly nrEntries: number;
  readonly maxEntries: number;
  readonly valueSize: number;
  private readonly w: Uint32Array;
  /** u32 index of value 0 when values are 8 bytes apart (child pointers, block_time). */
  private readonly v8: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly location: number,
  ) {
    this.w =
      (bytes.byteOffset & 3) === 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset, BLOCK_SIZE >>> 2) : new Uint32Array(bytes.slice(0, BLOCK_SIZE).buffer);
    const w = this.w;
    this.flags = w[1];
    this.blocknr = w[2] + w[3] * 0x1_0000_0000;
    this.nrEntries = w[4];
    this.maxEntries = w[5];
    this.valueSize = w[6];
    this.v8 = (NODE_HEADER_SIZE >>> 2) + 2 * this.maxEntries;
  }

  /** The node at `location`, after validateNode's checks (throws a typed error). */
  static validated(bytes: Uint8Array, location: number, expectedValueSize?: number): BTreeNode {
    const expected = computeChecksum(bytes, Salt.btreeNode);
    const stored = storedChecksum(bytes);
    if (expected !== stored) throw new ChecksumError(location, 'btree node', expected, stored);
    return checkNodeHeader(new BTreeNode(bytes, location), location, expectedValueSize);
  }

  get isLeaf(): boolean {
    return (this.flags & LEAF_NODE) !== 0;
  }

  key(i: number): number {
    return this.w[8 + 2 * i] + this.w[9 + 2 * i] * 0x1_0000_0000;
  }

  /** The index of the last key not above `k` (keys are sorted), or -1: the child a lookup of `k` goes down, or its leaf entry. */
  lastKeyNotAbove(k: number): number {
    let lo = 0;
    let hi = this.nrEntries - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.key(mid) <= k) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return at;
  }

  /** A u64 value: an internal node's child pointer (always 8 bytes apart), a top-level leaf's root. */
  u64(i: number): number {
    const at = this.v8 + 2 * i;
    return this.w[at] + this.w[at + 1] * 0x1_0000_0000;
  }

  /** A u32 value (ref-count trees). */
  u32(i: number): number {
    return this.w[(NODE_HEADER_SIZE >>> 2) + 2 * this.maxEntries + i];
  }

  /** The data block of a mapping leaf's block_time value i. */
  dataBlock(i: number): number {
    const at = this.v8 + 2 * i;
    return blockOfHalves(this.w[at], this.w[at + 1]);
  }

  /** The time of a mapping leaf's block_time value i. */
  time(i: number): number {
    return timeOfLow(this.w[this.v8 + 2 * i]);
  }

  /** Byte offset of value i, for values parsed by their own codec (device details, index entries). */
  valueOffset(i: number): number {
    return valueOffset(this.maxEntries, this.valueSize, i);
  }

  /** Index of the first key that does not increase strictly or leaves [lo, hi), or -1. */
  firstBadKey(lo = 0, hi = Infinity): number {
    // Runs for every node read: straight over the u32 view.
    const w = this.w;
    const n = this.nrEntries;
    let prev = -1;
    for (let i = 0, j = NODE_HEADER_SIZE >>> 2; i < n; i++, j += 2) {
      const k = w[j] + w[j + 1] * 0x1_0000_0000;
      if (k <= prev || k < lo || k >= hi) return i;
      prev = k;
    }
    return -1;
  }
}

/** Starts a fresh node block; fill keys/values, then call sealNode. */
export function newNode(flags: number, location: number, valueSize: number, nrEntries: number): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  writeNodeHeader({ flags, blocknr: location, nrEntries, maxEntries: maxEntriesFor(valueSize), valueSize }, b);
  return b;
}

export function sealNode(b: Uint8Array): void {
  stampChecksum(b, Salt.btreeNode);
}
