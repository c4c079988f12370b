/**
 * Free pages of a bbolt file and the records left in them.
 *
 * bbolt never wipes a page it frees (bbolt freelist.go / internal/freelist:
 * a freed page id is only listed, and the bytes stay until the page is
 * reused), and a transaction copies every page it changes to a new one
 * (node.go spill: the old page goes to the freelist). So a key deleted or
 * overwritten lately is often still in a freed leaf, whole.
 *
 * Two ways to know which pages are free, both given here:
 * - freelistPageIds: the ids in the current meta's freelist page (those free
 *   and those pending, freed by transactions a reader might still see: bbolt
 *   writes both, internal/freelist/shared.go Write);
 * - unreachablePageIds: every page from 2 to the high-water mark that the
 *   current tree does not reach, all buckets and overflow included, nor the
 *   freelist page: what bbolt itself computes when the file keeps no freelist
 *   (db.go DB.freepages).
 * scanFreeLeaves then reads such pages as leaves, tolerantly: a page that is
 * no leaf is passed over, an element that does not fit its page is counted
 * and skipped, and nothing in a free page can stop the scan.
 */
import { BUCKET_HEADER_SIZE, INLINE_ROOT, parseBucketHeader } from './bucket-header.js';
import type { BoltBucket } from './bucket.js';
import type { BoltDb } from './db.js';
import { BUCKET_LEAF_FLAG, maxElements, parseLeafElement } from './elements.js';
import { BoltError, boltFail } from './errors.js';
import { parseFreelist } from './freelist.js';
import { PAGE_HEADER_SIZE, PageFlag, describeFlags, parsePageHeader } from './page.js';

/** The first page a tree may use: 0 and 1 are the metas. */
const FIRST_DATA_PAGE = 2;

/**
 * The ids in the current meta's freelist page, sorted, each checked to lie
 * between the metas and the high-water mark; undefined when the file keeps no
 * freelist (bbolt's NoFreelistSync).
 */
export function freelistPageIds(db: BoltDb): number[] | undefined {
  const at = db.meta.freelist;
  if (at === null) return undefined;
  const page = db.pages.read(at, { file: db.name, page: db.metaPage }, db.meta.highWater);
  const where = { file: db.name, page: at };
  if (page.header.flags !== PageFlag.freelist) boltFail(where, 'a freelist page', describeFlags(page.header.flags));
  const ids = parseFreelist(page.bytes, page.header.count, where);
  for (const id of ids) {
    if (id < FIRST_DATA_PAGE || id >= db.meta.highWater)
      boltFail(where, `free page ids from ${FIRST_DATA_PAGE} to below the high-water mark ${db.meta.highWater}`, `${id}`);
  }
  return ids.sort((a, b) => a - b);
}

/**
 * Pages from 2 up to the high-water mark (or the file's end, when that comes
 * first) that the current tree does not use. Throws a BoltError when the tree
 * cannot be walked whole, or a page is reached twice: a page set computed
 * from half a tree would call live pages free.
 */
export function unreachablePageIds(db: BoltDb): number[] {
  const used = reachablePageIds(db);
  const end = Math.min(db.meta.highWater, db.pages.pageCount);
  const free: number[] = [];
  for (let id = FIRST_DATA_PAGE; id < end; id++) if (!used.has(id)) free.push(id);
  return free;
}

/** Every page the current transaction uses: each bucket's tree with its overflow pages, and the freelist page's span. */
export function reachablePageIds(db: BoltDb): Set<number> {
  const used = new Set<number>();
  const seen = new Set<number>();
  const pending: BoltBucket[] = [db.root()];
  for (let bucket = pending.pop(); bucket; bucket = pending.pop()) {
    for (const node of bucket.nodes(seen)) {
      for (let i = 0; i < node.pages; i++) used.add(node.id + i);
      if (node.kind !== 'leaf') continue;
      for (const e of node.elements) if ((e.flags & BUCKET_LEAF_FLAG) !== 0) pending.push(bucket.openChild(e, { file: db.name, page: node.id }));
    }
  }
  if (db.meta.freelist !== null) {
    const page = db.pages.read(db.meta.freelist, { file: db.name, page: db.metaPage }, db.meta.highWater);
    for (let i = 0; i <= page.header.overflow; i++) used.add(page.id + i);
  }
  return used;
}

/** One element found in a free leaf page: a record as some earlier transaction wrote it. Bytes are copies. */
export interface FreeLeafRecord {
  page: number;
  /** The element's index in its leaf (the page's, or the inline bucket's). */
  index: number;
  /** Keys of the inline buckets, inside the page's element, that hold this record; [] for the page's own elements. */
  inlinePath: Uint8Array[];
  /** The value is a bucket header (and inline page), not an application's value. */
  isBucket: boolean;
  key: Uint8Array;
  value: Uint8Array;
}

/** What a scan met, for a report: counts only, the records themselves are yielded. */
export interface LeafScanStats {
  /** Pages looked at (the first page of each; a leaf's overflow is read with it). */
  pagesRead: number;
  /** Pages that were leaves, their header naming their own id. */
  leafPages: number;
  /** Leaves (or inline buckets' leaves) whose count did not fit: read as far as the page goes. */
  damagedPages: number;
  recordsFound: number;
  /** Elements whose key or value lay outside their page, or whose key was empty: skipped. */
  damagedRecords: number;
}

export function newLeafScanStats(): LeafScanStats {
  return { pagesRead: 0, leafPages: 0, damagedPages: 0, recordsFound: 0, damagedRecords: 0 };
}

/** Inline buckets inside inline buckets: bbolt writes none (bucket.go inlineable), but a damaged value may claim any. */
const MAX_INLINE_DEPTH = 8;

/**
 * The elements of every leaf among pages `ids` (for example
 * freelistPageIds or unreachablePageIds), in page order, and those of the
 * inline buckets in their values (containerd's small buckets, a container's
 * labels, are inline: a deleted one lives on only there). A page is taken as
 * a leaf when its flags say leaf and its header names its own id (a freed
 * page keeps both; an overflow continuation or a wiped page has neither, so
 * pages inside a leaf's overflow need no skipping). Pages outside 2 up to the
 * file's end are passed over; `stats` counts what was met.
 */
export function* scanFreeLeaves(db: BoltDb, ids: Iterable<number>, stats: LeafScanStats = newLeafScanStats()): Generator<FreeLeafRecord> {
  const sorted = [...new Set(ids)].filter((id) => Number.isSafeInteger(id) && id >= FIRST_DATA_PAGE && id < db.pages.pageCount).sort((a, b) => a - b);
  for (const id of sorted) {
    stats.pagesRead++;
    const header = parsePageHeader(db.pages.readRaw(id), { file: db.name, page: id });
    if (header.flags !== PageFlag.leaf || header.id !== id) continue;
    stats.leafPages++;
    // The overflow may be gone (reused, or past the end): read what is there, and let elements that need more fail alone.
    yield* leafRecords(db.pages.readRawSpan(id, header.overflow + 1), header.count, id, [], stats);
  }
}

/** The records of one leaf (a page, or an inline bucket's page inside a value), tolerantly, and of the inline buckets among them. */
function* leafRecords(page: Uint8Array, claimed: number, id: number, path: Uint8Array[], stats: LeafScanStats): Generator<FreeLeafRecord> {
  let count = claimed;
  if (count > maxElements(page.length)) {
    stats.damagedPages++;
    count = maxElements(page.length);
  }
  for (let i = 0; i < count; i++) {
    const record = tolerantElement(page, id, i, path);
    if (!record) {
      stats.damagedRecords++;
      continue;
    }
    stats.recordsFound++;
    yield record;
    const inline = record.isBucket && path.length < MAX_INLINE_DEPTH ? inlineLeaf(record.value) : undefined;
    if (inline) yield* leafRecords(inline.page, inline.count, id, [...path, record.key], stats);
  }
}

/** The leaf page inside an inline bucket's value (root 0, then a leaf header), or undefined when the value holds none. */
function inlineLeaf(value: Uint8Array): { page: Uint8Array; count: number } | undefined {
  if (value.length < BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE) return undefined;
  const header = parseBucketHeader(value, { file: '', page: 0 });
  if (header.root !== INLINE_ROOT) return undefined;
  const page = value.subarray(BUCKET_HEADER_SIZE);
  const leaf = parsePageHeader(page, { file: '', page: 0 });
  return leaf.flags === PageFlag.leaf ? { page, count: leaf.count } : undefined;
}

/** Element `i` of a free leaf as a record, or undefined when it is damaged (out of its page, or an empty key). */
function tolerantElement(page: Uint8Array, id: number, i: number, path: Uint8Array[]): FreeLeafRecord | undefined {
  try {
    const e = parseLeafElement(page, i, { file: '', page: id });
    if (e.key.length === 0) return undefined;
    return { page: id, index: i, inlinePath: path, isBucket: (e.flags & BUCKET_LEAF_FLAG) !== 0, key: e.key.slice(), value: e.value.slice() };
  } catch (e) {
    if (e instanceof BoltError) return undefined;
    throw e;
  }
}
