/**
 * Typed errors for the bytes of metadata blocks (what a codec or a tree
 * walk found wrong). Errors of requests and arguments are in src/errors.ts,
 * the kernel's and external commands' in driver/.
 *
 * Each carries the metadata block where the problem was seen, so that a
 * report can say where to look (`block 457: ...`), never just "bad data".
 */

/** Base class: a problem with the bytes of one metadata block. */
export class MetadataError extends Error {
  constructor(
    readonly block: number,
    /** What is wrong, without the block ("bad btree node checksum: ..."). */
    readonly detail: string,
  ) {
    super(`block ${block}: ${detail}`);
    this.name = new.target.name;
  }
}

/** The stored checksum does not match the block's contents. */
export class ChecksumError extends MetadataError {
  constructor(
    block: number,
    readonly kind: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(block, `bad ${kind} checksum: stored 0x${hex(actual)}, computed 0x${hex(expected)}`);
  }
}

/** The block says it lives somewhere else (its blocknr field). */
export class BlockNumberError extends MetadataError {
  constructor(
    block: number,
    readonly kind: string,
    readonly stored: number,
  ) {
    super(block, `${kind} says it is block ${stored}`);
  }
}

/** A field holds a value the format does not allow. */
export class FieldError extends MetadataError {
  constructor(
    block: number,
    readonly field: string,
    detail: string,
  ) {
    super(block, `${field}: ${detail}`);
  }
}

/** A block number points past the end of the metadata. */
export class OutOfRangeError extends MetadataError {
  constructor(
    block: number,
    readonly nrBlocks: number,
    what: string,
  ) {
    super(block, `${what} is past the end of the metadata (${nrBlocks} blocks)`);
  }
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
