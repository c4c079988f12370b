/**
 * bbolt freelist page: the ids of pages free for reuse, including those freed
 * by transactions a reader may still see (pending), merged and sorted.
 *
 * Layout (bbolt internal/common/page.go FreelistPageCount and FreelistPageIds;
 * internal/freelist/shared.go Write), after the page header (flags 0x10):
 * ```
 * count < 0xFFFF:   16 u64[count]        page ids
 * count == 0xFFFF:  16 u64 n             the real count, which a u16 cannot hold
 *                   24 u64[n]            page ids
 * ```
 * The list may run on into overflow pages (Tx.commitFreelist allocates
 * enough pages for it). A meta whose freelist field is all ones has no such
 * page: bbolt rebuilds the list by walking the tree (DB.freepages).
 */
import { getU64, setU64 } from '../le.js';
import { type BoltWhere, boltFail } from './errors.js';
import { PAGE_HEADER_SIZE } from './page.js';

/** The u16 count that says "the count is the first u64 of the data". */
export const FREELIST_COUNT_IN_DATA = 0xffff;
const PGID_SIZE = 8;

/** The page ids of a freelist page (`page` with its overflow), its count checked against the page before anything is allocated. */
export function parseFreelist(page: Uint8Array, count: number, where: BoltWhere): number[] {
  let first = PAGE_HEADER_SIZE;
  let n = count;
  if (count === FREELIST_COUNT_IN_DATA) {
    if (first + PGID_SIZE > page.length) boltFail(where, 'a freelist count in the page', `${page.length} bytes`);
    n = getU64(page, first);
    first += PGID_SIZE;
  }
  const most = Math.floor((page.length - first) / PGID_SIZE);
  if (n > most) boltFail(where, `at most ${most} free page ids in ${page.length} bytes`, `count ${n}`);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(getU64(page, first + PGID_SIZE * i));
  return ids;
}

/** Bytes a freelist page of `n` ids needs, header included (shared.go EstimatedWritePageSize). */
export function freelistBytes(n: number): number {
  return PAGE_HEADER_SIZE + PGID_SIZE * (n >= FREELIST_COUNT_IN_DATA ? n + 1 : n);
}

/** Writes `ids` after the header of `page` and returns the header count to store (0xFFFF past a u16). */
export function writeFreelist(ids: readonly number[], page: Uint8Array): number {
  let at = PAGE_HEADER_SIZE;
  const inData = ids.length >= FREELIST_COUNT_IN_DATA;
  if (inData) {
    setU64(page, at, ids.length);
    at += PGID_SIZE;
  }
  for (const id of ids) {
    setU64(page, at, id);
    at += PGID_SIZE;
  }
  return inData ? FREELIST_COUNT_IN_DATA : ids.length;
}
