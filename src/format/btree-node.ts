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

export function keyAt(b: Uint8Array, i: number): number {
  return getU64(b, NODE_HEADER_SIZE + 8 * i);
}

export function setKeyAt(b: Uint8Array, i: number, k: number): void {
  setU64(b, NODE_HEADER_SIZE + 8 * i, k);
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
  const h = parseNodeHeader(b);
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

/** Starts a fresh node block; fill keys/values, then call sealNode. */
export function newNode(flags: number, location: number, valueSize: number, nrEntries: number): Uint8Array {
  const b = new Uint8Array(BLOCK_SIZE);
  writeNodeHeader({ flags, blocknr: location, nrEntries, maxEntries: maxEntriesFor(valueSize), valueSize }, b);
  return b;
}

export function sealNode(b: Uint8Array): void {
  stampChecksum(b, Salt.btreeNode);
}
