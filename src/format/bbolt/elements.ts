/**
 * bbolt branch and leaf elements: the array after a branch or leaf page's
 * header, with the keys (and values) packed after it.
 *
 * Layouts (bbolt internal/common/page.go, structs branchPageElement and
 * leafPageElement), 16 bytes each, little-endian:
 * ```
 * branch:  0 u32 pos    key offset, counted from this element's own first byte
 *          4 u32 ksize
 *          8 u64 pgid   child page; its keys are >= this key (the child's first key)
 * leaf:    0 u32 flags  0x01: the value is a bucket (bucket-header.ts)
 *          4 u32 pos    key offset, counted from this element's own first byte
 *          8 u32 ksize
 *         12 u32 vsize  the value follows the key directly
 * ```
 * Element i starts at 16 + 16 * i. bbolt writes the data in element order
 * right after the array (inode.go WriteInodeToPage), keys sorted bytewise and
 * never empty; the data may run on into the page's overflow pages.
 */
import { getU32, getU64, setU32, setU64 } from '../le.js';
import { type BoltWhere, boltFail } from './errors.js';
import { PAGE_HEADER_SIZE } from './page.js';

export const ELEMENT_SIZE = 16;
/** Leaf element flag: the value is a sub-bucket (page.go BucketLeafFlag). */
export const BUCKET_LEAF_FLAG = 0x01;

export interface BranchElement {
  key: Uint8Array;
  child: number;
}

export interface LeafElement {
  flags: number;
  key: Uint8Array;
  value: Uint8Array;
}

/** The most elements a page of `bytes` (header included) can hold: a count above it is damage. */
export function maxElements(bytes: number): number {
  return Math.max(0, Math.floor((bytes - PAGE_HEADER_SIZE) / ELEMENT_SIZE));
}

/** Checks that `count` elements fit in `page` before anything is allocated for them. */
export function checkCount(page: Uint8Array, count: number, where: BoltWhere): void {
  const most = maxElements(page.length);
  if (count > most) boltFail(where, `at most ${most} elements in ${page.length} bytes`, `count ${count}`);
}

/** Branch element `i` of `page` (header, elements and data: the page with its overflow), bounds-checked. */
export function parseBranchElement(page: Uint8Array, i: number, where: BoltWhere): BranchElement {
  const at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
  if (at + ELEMENT_SIZE > page.length) boltFail(where, `element ${i} inside the page's ${page.length} bytes`, `offset ${at}`);
  const key = slice(page, at + getU32(page, at), getU32(page, at + 4), i, 'key', where);
  return { key, child: getU64(page, at + 8) };
}

/** Leaf element `i` of `page`, bounds-checked: its key and value are views of `page`. */
export function parseLeafElement(page: Uint8Array, i: number, where: BoltWhere): LeafElement {
  const at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
  if (at + ELEMENT_SIZE > page.length) boltFail(where, `element ${i} inside the page's ${page.length} bytes`, `offset ${at}`);
  const keyStart = at + getU32(page, at + 4);
  const ksize = getU32(page, at + 8);
  const key = slice(page, keyStart, ksize, i, 'key', where);
  const value = slice(page, keyStart + ksize, getU32(page, at + 12), i, 'value', where);
  return { flags: getU32(page, at), key, value };
}

/** The first `count` branch elements, the count checked against the page first. */
export function parseBranchElements(page: Uint8Array, count: number, where: BoltWhere): BranchElement[] {
  checkCount(page, count, where);
  const out: BranchElement[] = [];
  for (let i = 0; i < count; i++) out.push(parseBranchElement(page, i, where));
  return out;
}

/** The first `count` leaf elements, the count checked against the page first. */
export function parseLeafElements(page: Uint8Array, count: number, where: BoltWhere): LeafElement[] {
  checkCount(page, count, where);
  const out: LeafElement[] = [];
  for (let i = 0; i < count; i++) out.push(parseLeafElement(page, i, where));
  return out;
}

/** Bytes a branch page with `elements` needs: header, array and keys (spread over overflow pages past a page). */
export function branchPageBytes(elements: readonly BranchElement[]): number {
  let n = PAGE_HEADER_SIZE;
  for (const e of elements) n += ELEMENT_SIZE + e.key.length;
  return n;
}

/** Bytes a leaf page with `elements` needs: header, array, keys and values. */
export function leafPageBytes(elements: readonly LeafElement[]): number {
  let n = PAGE_HEADER_SIZE;
  for (const e of elements) n += ELEMENT_SIZE + e.key.length + e.value.length;
  return n;
}

/** Writes the element array and keys after the header of `page` (at least branchPageBytes long), as bbolt lays them out. */
export function writeBranchElements(elements: readonly BranchElement[], page: Uint8Array): void {
  let data = PAGE_HEADER_SIZE + ELEMENT_SIZE * elements.length;
  elements.forEach((e, i) => {
    const at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    setU32(page, at, data - at);
    setU32(page, at + 4, e.key.length);
    setU64(page, at + 8, e.child);
    page.set(e.key, data);
    data += e.key.length;
  });
}

/** Writes the element array, keys and values after the header of `page` (at least leafPageBytes long). */
export function writeLeafElements(elements: readonly LeafElement[], page: Uint8Array): void {
  let data = PAGE_HEADER_SIZE + ELEMENT_SIZE * elements.length;
  elements.forEach((e, i) => {
    const at = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    setU32(page, at, e.flags);
    setU32(page, at + 4, data - at);
    setU32(page, at + 8, e.key.length);
    setU32(page, at + 12, e.value.length);
    page.set(e.key, data);
    page.set(e.value, data + e.key.length);
    data += e.key.length + e.value.length;
  });
}

/** page[start, start + size) when it lies inside the page; the offsets are u32 sums, exact as numbers. */
function slice(page: Uint8Array, start: number, size: number, i: number, what: string, where: BoltWhere): Uint8Array {
  const end = start + size;
  if (end > page.length) boltFail(where, `element ${i}'s ${what} inside the page's ${page.length} bytes`, `bytes ${start}..${end}`);
  return page.subarray(start, end);
}
