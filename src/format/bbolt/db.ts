/**
 * A bbolt database file, opened read-only: the two metas judged, the current
 * one chosen as bbolt does, and its root bucket (bucket.ts) read page by page
 * on demand.
 *
 * Opening (bbolt db.go): the page size is the one meta 0 states when meta 0
 * is valid; otherwise bbolt looks for a valid meta 1 at 1024 << i bytes,
 * i = 0..14 (getPageSizeFromSecondMeta), and so does this (taking one only
 * where its stated page size puts it). Then both metas are read at 0 and
 * pageSize; the valid one with the higher txid is current, meta 0 on a tie
 * (DB.meta). One bad meta is survivable and said in `warnings`; two are a
 * BoltError. The other valid meta is the previous transaction's, whose tree
 * often survives whole in pages freed since: previousRoot() reads it.
 */
import { FileSource, type ByteSource } from '../../io/byte-source.js';
import { BoltBucket, type BoltKey } from './bucket.js';
import { BoltError } from './errors.js';
import { META_PAGE_BYTES, type Meta, metaProblem, parseMeta } from './meta.js';
import { PageReader, type PageReaderOptions } from './page-reader.js';

/** Page sizes this reader accepts: bbolt's probe reaches 16 MiB; below 512 bytes a page holds too little to be bbolt's. */
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 1 << 24;
const PROBE_STEPS = 15;

export type BoltOpenOptions = PageReaderOptions;

/** One of the two meta pages, as judged: `meta` when it is valid, `problem` in words when not. */
export interface MetaSlot {
  readonly page: 0 | 1;
  readonly meta: Meta | undefined;
  readonly problem: string | undefined;
}

export class BoltDb {
  readonly name: string;
  readonly pageSize: number;
  readonly pages: PageReader;
  readonly metas: readonly [MetaSlot, MetaSlot];
  /** The current meta: the valid one with the higher txid. */
  readonly meta: Meta;
  readonly metaPage: 0 | 1;
  /** What was wrong but survivable: a bad meta, a file shorter than its high-water mark. */
  readonly warnings: readonly string[];
  private readonly owned: boolean;

  /** Opens the file at `path` (read-only); close() closes it. */
  static open(path: string, options: BoltOpenOptions = {}): BoltDb {
    const source = new FileSource(path, 'bbolt database');
    try {
      return new BoltDb(source, options, true);
    } catch (e) {
      source.close();
      throw e;
    }
  }

  /** Reads `source`, which stays the caller's to close unless `owned`. */
  constructor(
    readonly source: ByteSource,
    options: BoltOpenOptions = {},
    owned = false,
  ) {
    this.name = source.name;
    this.owned = owned;
    this.pageSize = findPageSize(source);
    this.pages = new PageReader(source, this.pageSize, options);
    this.metas = [readSlot(source, 0, this.pageSize), readSlot(source, 1, this.pageSize)];
    const [m0, m1] = this.metas;
    const chosen = !m0.meta ? m1 : !m1.meta ? m0 : m1.meta.txid > m0.meta.txid ? m1 : m0;
    if (!chosen.meta) throw new BoltError(this.name, undefined, 'a valid meta on page 0 or 1', `page 0 with ${m0.problem}, page 1 with ${m1.problem}`);
    this.meta = chosen.meta;
    this.metaPage = chosen.page;
    const warnings: string[] = [];
    for (const slot of this.metas) {
      if (slot.problem) warnings.push(`page ${slot.page}: meta not used: ${slot.problem}; read page ${chosen.page}'s (txid ${chosen.meta.txid})`);
    }
    if (this.meta.highWater > this.pages.pageCount) {
      warnings.push(`the file holds ${this.pages.pageCount} pages, below the high-water mark ${this.meta.highWater}: pages past its end cannot be read`);
    }
    this.warnings = warnings;
  }

  /** The current transaction's root bucket: the top-level buckets are its entries. */
  root(): BoltBucket {
    return BoltBucket.root({ pages: this.pages, highWater: this.meta.highWater }, this.meta.root, this.metaPage);
  }

  /** A top-level bucket of the current transaction. */
  bucket(name: BoltKey): BoltBucket | undefined {
    return this.root().bucket(name);
  }

  /** The other meta when it is valid: the transaction before the current one (bbolt keeps both). */
  previous(): MetaSlot | undefined {
    const other = this.metas[1 - this.metaPage];
    return other.meta ? other : undefined;
  }

  /**
   * The previous transaction's root bucket. Its pages may since have been
   * reused, which reads as BoltErrors of pages that are not what it expects.
   */
  previousRoot(): BoltBucket {
    const other = this.metas[1 - this.metaPage];
    if (!other.meta) throw new BoltError(this.name, other.page, 'a valid previous meta', other.problem ?? 'none');
    return BoltBucket.root({ pages: this.pages, highWater: other.meta.highWater }, other.meta.root, other.page);
  }

  /** Closes the source when open() opened it. */
  close(): void {
    if (this.owned) this.source.close();
  }
}

/** The page size as bbolt finds it: meta 0's when valid, else that of a valid meta 1 found by probing. */
function findPageSize(source: ByteSource): number {
  const first = judge(source, 0, 0, undefined);
  if (first.meta) return first.meta.pageSize;
  for (let i = 0; i < PROBE_STEPS; i++) {
    const at = 1024 << i;
    if (at + META_PAGE_BYTES > source.size) break;
    const probe = judge(source, at, 1, undefined);
    if (probe.meta && probe.meta.pageSize === at) return at;
  }
  throw new BoltError(source.name, undefined, 'a valid meta on page 0 or 1', `page 0 with ${first.problem}, and no valid meta 1 at any page size`);
}

function readSlot(source: ByteSource, page: 0 | 1, pageSize: number): MetaSlot {
  return { page, ...judge(source, page * pageSize, page, pageSize) };
}

/** The meta of page `page` at byte `at`, valid (for a file of `pageSize`, when known) or with its problem in words. */
function judge(source: ByteSource, at: number, page: 0 | 1, pageSize: number | undefined): { meta: Meta | undefined; problem: string | undefined } {
  if (at + META_PAGE_BYTES > source.size) return { meta: undefined, problem: `the file ending at byte ${source.size}, before the meta` };
  const bytes = new Uint8Array(META_PAGE_BYTES);
  source.readAt(bytes, at);
  const meta = parseMeta(bytes, { file: source.name, page });
  const problem = metaProblem(bytes, meta, pageSize);
  if (problem) return { meta: undefined, problem };
  if (meta.pageSize < MIN_PAGE_SIZE || meta.pageSize > MAX_PAGE_SIZE) {
    return { meta: undefined, problem: `page size ${meta.pageSize}, outside ${MIN_PAGE_SIZE}..${MAX_PAGE_SIZE}` };
  }
  return { meta, problem: undefined };
}
