/**
 * bbolt meta page: pages 0 and 1, written alternately (page txid % 2), so
 * that a torn write of one leaves the other, one transaction older, intact.
 *
 * Layout (bbolt internal/common/meta.go, struct Meta), after the 16-byte page
 * header (flags 0x04), little-endian:
 * ```
 * 16 u32 magic      0xED0CDAED
 * 20 u32 version    2
 * 24 u32 pageSize   the page size of the whole file
 * 28 u32 flags      unused (0)
 * 32 u8[16] root    the root bucket's header (bucket-header.ts), never inline
 * 48 u64 freelist   page of the freelist; 0xFFFFFFFFFFFFFFFF when it is not kept
 *                   (NoFreelistSync: bbolt rebuilds it by walking the tree)
 * 56 u64 pgid       high-water mark: every page in use lies below it
 * 64 u64 txid       transaction that wrote this meta
 * 72 u64 checksum   FNV-1a 64 of meta bytes 16..72 (Meta.Sum64)
 * ```
 * bbolt's Meta.Validate takes a meta when magic, version and checksum hold,
 * and DB.meta uses the valid one with the higher txid (meta 0 on a tie).
 */
import { getU32, getU64, getU64Big, setU32, setU64, setU64Big } from '../le.js';
import { type BucketHeader, parseBucketHeader, writeBucketHeader } from './bucket-header.js';
import { type BoltWhere, boltFail, hex } from './errors.js';
import { fnv1a64 } from './fnv.js';
import { PAGE_HEADER_SIZE } from './page.js';

export const BOLT_MAGIC = 0xed0cdaed;
export const BOLT_VERSION = 2;
export const META_SIZE = 64;
/** Page bytes a meta needs: header and meta. */
export const META_PAGE_BYTES = PAGE_HEADER_SIZE + META_SIZE;
/** Offset of the checksum in the page: the hash covers [PAGE_HEADER_SIZE, this). */
const CHECKSUM_OFFSET = PAGE_HEADER_SIZE + 56;
const NO_FREELIST = 0xffffffffffffffffn;

export interface Meta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  root: BucketHeader;
  /** The freelist page, or null when the file keeps none (bbolt's PgidNoFreelist). */
  freelist: number | null;
  /** bbolt's `pgid`: the first page id never allocated; every live page lies below it. */
  highWater: number;
  txid: bigint;
  checksum: bigint;
}

/** Decodes the meta of a meta page (header included in `page`), without judging it. */
export function parseMeta(page: Uint8Array, where: BoltWhere): Meta {
  if (page.length < META_PAGE_BYTES) boltFail(where, `a meta page of at least ${META_PAGE_BYTES} bytes`, `${page.length} bytes`);
  const m = PAGE_HEADER_SIZE;
  const freelist = getU64Big(page, m + 32);
  return {
    magic: getU32(page, m),
    version: getU32(page, m + 4),
    pageSize: getU32(page, m + 8),
    flags: getU32(page, m + 12),
    root: parseBucketHeader(page.subarray(m + 16, m + 32), where),
    freelist: freelist === NO_FREELIST ? null : getU64(page, m + 32),
    highWater: getU64(page, m + 40),
    txid: getU64Big(page, m + 48),
    checksum: getU64Big(page, m + 56),
  };
}

/** Encodes `meta` after the page header of `page` and stamps the checksum it computes (meta.checksum is ignored). */
export function writeMeta(meta: Omit<Meta, 'checksum'>, page: Uint8Array): void {
  const m = PAGE_HEADER_SIZE;
  setU32(page, m, meta.magic);
  setU32(page, m + 4, meta.version);
  setU32(page, m + 8, meta.pageSize);
  setU32(page, m + 12, meta.flags);
  writeBucketHeader(meta.root, page.subarray(m + 16, m + 32));
  if (meta.freelist === null) setU64Big(page, m + 32, NO_FREELIST);
  else setU64(page, m + 32, meta.freelist);
  setU64(page, m + 40, meta.highWater);
  setU64Big(page, m + 48, meta.txid);
  setU64Big(page, CHECKSUM_OFFSET, computeMetaChecksum(page));
}

/** The checksum bbolt would store for the meta in `page` (header included). */
export function computeMetaChecksum(page: Uint8Array): bigint {
  return fnv1a64(page.subarray(PAGE_HEADER_SIZE, CHECKSUM_OFFSET));
}

/**
 * What makes the meta in `page` unusable, in words ("checksum 0x1f (computed
 * 0x2e)"), or undefined when it is good. bbolt's checks first, in its order
 * (Meta.Validate: magic, version, checksum); then what its Meta.Write would
 * have refused to write (a root or freelist at or above the high-water mark)
 * and what this reader cannot follow (a page size other than the file's).
 */
export function metaProblem(page: Uint8Array, meta: Meta, filePageSize?: number): string | undefined {
  if (meta.magic !== BOLT_MAGIC) return `magic ${hex(meta.magic)} (expected ${hex(BOLT_MAGIC)})`;
  if (meta.version !== BOLT_VERSION) return `version ${meta.version} (expected ${BOLT_VERSION})`;
  const sum = computeMetaChecksum(page);
  if (meta.checksum !== sum) return `checksum 0x${meta.checksum.toString(16)} (computed 0x${sum.toString(16)})`;
  if (filePageSize !== undefined && meta.pageSize !== filePageSize) return `page size ${meta.pageSize} (the file's is ${filePageSize})`;
  if (meta.root.root >= meta.highWater) return `root page ${meta.root.root} (at or above the high-water mark ${meta.highWater})`;
  if (meta.freelist !== null && meta.freelist >= meta.highWater) return `freelist page ${meta.freelist} (at or above the high-water mark ${meta.highWater})`;
  return undefined;
}
