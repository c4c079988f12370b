/**
 * bbolt page header: the first 16 bytes of every page (and of the page an
 * inline bucket carries inside its value).
 *
 * Layout (bbolt internal/common/page.go, struct Page), little-endian on the
 * platforms containerd runs on:
 * ```
 *  0 u64 id        the page's own number: offset / pageSize (0 in an inline bucket's page)
 *  8 u16 flags     exactly one of: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
 * 10 u16 count     elements (branch, leaf) or free page ids (freelist, 0xFFFF: see freelist.ts)
 * 12 u32 overflow  pages that follow this one as its continuation: it spans overflow + 1 pages
 * ```
 * bbolt tests the kind with `flags == X`, never a bit test, so a page whose
 * flags mix two kinds is no page at all (Page.IsValidPage).
 */
import { getU32, getU64, setU32, setU64 } from '../le.js';
import { type BoltWhere, boltFail, hex } from './errors.js';

export const PAGE_HEADER_SIZE = 16;

/** Page kinds (page.go BranchPageFlag, LeafPageFlag, MetaPageFlag, FreelistPageFlag). */
export const PageFlag = {
  branch: 0x01,
  leaf: 0x02,
  meta: 0x04,
  freelist: 0x10,
} as const;

export interface PageHeader {
  /** A u64 on disk; as a number it is exact below 2^53, far above any page a file can hold. */
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

/** Decodes the header at the start of `b`, without judging it. */
export function parsePageHeader(b: Uint8Array, where: BoltWhere): PageHeader {
  if (b.length < PAGE_HEADER_SIZE) boltFail(where, `a ${PAGE_HEADER_SIZE}-byte page header`, `${b.length} bytes`);
  return { id: getU64(b, 0), flags: getU16(b, 8), count: getU16(b, 10), overflow: getU32(b, 12) };
}

/** Encodes `h` into the first 16 bytes of `b`. */
export function writePageHeader(h: PageHeader, b: Uint8Array): void {
  setU64(b, 0, h.id);
  setU16(b, 8, h.flags);
  setU16(b, 10, h.count);
  setU32(b, 12, h.overflow);
}

/** Flags in words for messages: "flags 0x10 (freelist)", or "flags 0x12" when they are no kind. */
export function describeFlags(flags: number): string {
  for (const [name, flag] of Object.entries(PageFlag)) if (flags === flag) return `flags ${hex(flags)} (${name})`;
  return `flags ${hex(flags)}`;
}

// The page header's two u16 fields are the format's only ones; le.ts has no u16.
function getU16(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
