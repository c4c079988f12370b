/**
 * Pages of a bbolt file, read on demand from a ByteSource and kept in a
 * small cache: a containerd database is read a few pages at a time, never
 * whole, and a damaged one must not make this allocate what its bytes claim.
 *
 * Page `id` starts at byte id * pageSize (bbolt db.go DB.page) and spans
 * overflow + 1 pages. Every read checks, before allocating: the id below the
 * high-water mark of the meta it is read for (db.go DB.allocate keeps every
 * page, overflow included, below it), the span inside the file, and the id
 * in the page's header equal to the id asked for (tx.go Tx.page and
 * page.go Page.FastCheck do the same).
 */
import type { ByteSource } from '../../io/byte-source.js';
import { BoltError, type BoltWhere, boltFail } from './errors.js';
import { type PageHeader, parsePageHeader } from './page.js';

export interface PageReaderOptions {
  /** Bytes of pages to keep (default 4 MiB). */
  cacheBytes?: number;
  /** The largest page span (page and overflow) to read, in bytes (default 256 MiB): a limit on what one claimed overflow can make this allocate. */
  maxPageBytes?: number;
}

/** One page as read: its header and its bytes, overflow pages included. */
export interface BoltPage {
  readonly id: number;
  readonly header: PageHeader;
  /** The whole span, (overflow + 1) * pageSize bytes. Shared with the cache: never written. */
  readonly bytes: Uint8Array;
}

const DEFAULT_CACHE_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_PAGE_BYTES = 256 * 1024 * 1024;
const WHOLE_FILE_BYTES = 16 * 1024 * 1024;

export class PageReader {
  /** Whole pages the file holds. */
  readonly pageCount: number;
  private readonly cache = new Map<number, BoltPage>();
  private cached = 0;
  private readonly cacheBytes: number;
  private readonly maxPageBytes: number;
  /** A file of at most WHOLE_FILE_BYTES, read at the first page read; pages are views of it (never written). */
  private whole: Uint8Array | undefined;

  constructor(
    readonly source: ByteSource,
    readonly pageSize: number,
    options: PageReaderOptions = {},
  ) {
    this.pageCount = Math.floor(source.size / pageSize);
    this.cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    this.maxPageBytes = options.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
  }

  get file(): string {
    return this.source.name;
  }

  /**
   * Page `id` as referred to from `from` (a branch element, a bucket value,
   * a meta): an id out of range is `from`'s error, a bad header or span the
   * page's own. Pages at or above `highWater` are refused: no live page of
   * the meta being read lies there.
   */
  read(id: number, from: BoltWhere, highWater: number): BoltPage {
    if (id >= highWater) boltFail(from, `a page below the high-water mark ${highWater}`, `page ${id}`);
    if (id >= this.pageCount) boltFail(from, `a page inside the file (${this.pageCount} pages of ${this.pageSize} bytes)`, `page ${id}`);
    let page = this.cache.get(id);
    if (page) {
      // Most recently used last: a Map keeps insertion order, so eviction takes the oldest first.
      this.cache.delete(id);
      this.cache.set(id, page);
    } else {
      page = this.load(id);
      this.remember(page);
    }
    // Checked on every read, cached or not: the previous meta's tree has a lower mark than the current one's.
    if (id + page.header.overflow + 1 > highWater) {
      boltFail({ file: this.file, page: id }, `overflow pages below the high-water mark ${highWater}`, `overflow ${page.header.overflow}`);
    }
    return page;
  }

  /**
   * The first page at `id` as it is, for scans of pages no tree refers to:
   * only the file's end is checked, the header is the caller's to judge.
   */
  readRaw(id: number): Uint8Array {
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.pageCount) {
      throw new BoltError(this.file, id, `a page inside the file (${this.pageCount} pages)`, `page ${id}`);
    }
    return this.readPages(id, 1);
  }

  /** Up to `span` pages from `id`, cut at the file's end and at maxPageBytes, for scans of freed pages whose overflow may be gone. */
  readRawSpan(id: number, span: number): Uint8Array {
    const pages = Math.min(span, this.pageCount - id, Math.max(1, Math.floor(this.maxPageBytes / this.pageSize)));
    if (pages < 1) throw new BoltError(this.file, id, `a page inside the file (${this.pageCount} pages)`, `page ${id}`);
    return this.readPages(id, pages);
  }

  private load(id: number): BoltPage {
    const first = this.readPages(id, 1);
    const where = { file: this.file, page: id };
    const header = parsePageHeader(first, where);
    if (header.id !== id) boltFail(where, `page id ${id} in the page's header`, `${header.id}`);
    const span = header.overflow + 1;
    if (id + span > this.pageCount) boltFail(where, `overflow pages inside the file (${this.pageCount} pages)`, `overflow ${header.overflow}`);
    if (span * this.pageSize > this.maxPageBytes) boltFail(where, `a page of at most ${this.maxPageBytes} bytes`, `overflow ${header.overflow}`);
    return { id, header, bytes: span === 1 ? first : this.readPages(id, span) };
  }

  private readPages(id: number, span: number): Uint8Array {
    // A small file is read whole once: thousands of one-page reads (a record bucket with sub-buckets is a page of its own) cost more than its bytes.
    if (this.whole === undefined && this.source.size <= WHOLE_FILE_BYTES) {
      this.whole = new Uint8Array(this.pageCount * this.pageSize);
      this.source.readAt(this.whole, 0);
    }
    if (this.whole) return this.whole.subarray(id * this.pageSize, (id + span) * this.pageSize);
    const b = new Uint8Array(span * this.pageSize);
    this.source.readAt(b, id * this.pageSize);
    return b;
  }

  private remember(page: BoltPage): void {
    const size = page.bytes.length;
    if (size > this.cacheBytes / 4) return; // a large overflow span would push out every tree page
    this.cache.set(page.id, page);
    this.cached += size;
    for (const [id, old] of this.cache) {
      if (this.cached <= this.cacheBytes) break;
      this.cache.delete(id);
      this.cached -= old.bytes.length;
    }
  }
}
