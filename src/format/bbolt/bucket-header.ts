/**
 * bbolt bucket header: the value of a bucket's key in its parent's leaf
 * (leaf element flag 0x01), and the root bucket inside the meta.
 *
 * Layout (bbolt internal/common/bucket.go, struct InBucket), little-endian:
 * ```
 *  0 u64 root      page of the bucket's root (branch or leaf); 0: an inline bucket
 *  8 u64 sequence  the bucket's NextSequence counter
 * 16 ...           inline bucket only: a whole leaf page (header, elements, keys and
 *                  values) inside the value itself, page id 0 (Bucket.openBucket)
 * ```
 * bbolt writes a bucket inline when it has one leaf, no sub-buckets, and that
 * leaf takes at most a quarter of a page (bucket.go, inlineable and
 * maxInlineBucketSize); the root bucket in the meta is never inline.
 */
import { getU64, getU64Big, setU64, setU64Big } from '../le.js';
import { type BoltWhere, boltFail } from './errors.js';

export const BUCKET_HEADER_SIZE = 16;
/** The root page id that says "the bucket's page follows this header". */
export const INLINE_ROOT = 0;

export interface BucketHeader {
  root: number;
  /** Opaque to a reader (an application's counter): kept whole. */
  sequence: bigint;
}

/** Decodes the header at the start of a bucket value. */
export function parseBucketHeader(value: Uint8Array, where: BoltWhere): BucketHeader {
  if (value.length < BUCKET_HEADER_SIZE) boltFail(where, `a bucket value of at least ${BUCKET_HEADER_SIZE} bytes`, `${value.length} bytes`);
  return { root: getU64(value, 0), sequence: getU64Big(value, 8) };
}

/** Encodes `h` into the first 16 bytes of `b`. */
export function writeBucketHeader(h: BucketHeader, b: Uint8Array): void {
  setU64(b, 0, h.root);
  setU64Big(b, 8, h.sequence);
}
