/**
 * A minimal bbolt writer, for tests: a whole file image built at once from a
 * nested JS structure, laid out as bbolt lays out what it writes (see the
 * codecs), so that the reader can be tested on inputs of every shape without
 * Go. It is no database: no transactions, no page reuse, no rebalancing.
 *
 * Shape of the image:
 * - pages 0 and 1: metas; the current one (txid T) on page T % 2, the other
 *   (txid T - 1) on the other page, as bbolt's Meta.Write places them;
 * - each bucket's tree bottom-up: leaves filled in key order up to a page
 *   (a single larger element gets overflow pages), then branch levels until
 *   one root; a non-root bucket with no sub-buckets whose leaf takes at most
 *   a quarter page goes inline in its parent's value (bucket.go inlineable);
 * - a freelist page.
 * With `previous`, that tree is written first with its own freelist and is
 * what the older meta points to; the current tree follows and its freelist
 * lists every page of the previous one as free: a delete's aftermath, with
 * the old records left in free pages, as bbolt leaves them.
 */
import { ArgumentError } from '../../errors.js';
import { BUCKET_HEADER_SIZE, INLINE_ROOT, writeBucketHeader } from './bucket-header.js';
import { type BoltKey, compareBytes, toBytes } from './bucket.js';
import {
  type BranchElement,
  BUCKET_LEAF_FLAG,
  ELEMENT_SIZE,
  type LeafElement,
  branchPageBytes,
  leafPageBytes,
  writeBranchElements,
  writeLeafElements,
} from './elements.js';
import { FREELIST_COUNT_IN_DATA, freelistBytes, writeFreelist } from './freelist.js';
import { BOLT_MAGIC, BOLT_VERSION, writeMeta } from './meta.js';
import { PAGE_HEADER_SIZE, PageFlag, writePageHeader } from './page.js';

/** A bucket's contents: keys to values (bytes, or strings as UTF-8) and to sub-buckets. A Map allows byte keys. */
export type BoltTreeInput = { [key: string]: BoltValueInput } | Map<BoltKey, BoltValueInput>;
export type BoltValueInput = Uint8Array | string | BoltTreeInput;

export interface BoltImageOptions {
  /** Default 4096. */
  pageSize?: number;
  /** The current meta's txid (default 3); the other meta's is one less. */
  txid?: bigint;
  /** Write small buckets inline as bbolt does (default true). */
  inline?: boolean;
  /** The previous transaction's tree: see the file comment. */
  previous?: BoltTreeInput;
}

export function buildBoltImage(tree: BoltTreeInput, options: BoltImageOptions = {}): Uint8Array {
  const pageSize = options.pageSize ?? 4096;
  if (!Number.isInteger(pageSize) || pageSize < 512) throw new ArgumentError(`page size ${pageSize}: expected an integer of at least 512`);
  const txid = options.txid ?? 3n;
  if (txid < 1n) throw new ArgumentError(`txid ${txid}: expected at least 1 (the previous meta's is one less)`);
  const image = new ImageBuilder(pageSize, options.inline ?? true);

  let previous = { root: 0, freelist: 0, highWater: 0 };
  if (options.previous) {
    const root = image.writeTree(options.previous);
    const freelist = image.writeFreelist([]);
    previous = { root, freelist, highWater: image.next };
  }
  const root = image.writeTree(tree);
  // Everything the previous transaction used is free once the current one is written.
  const freed: number[] = [];
  for (let id = 2; id < previous.highWater; id++) freed.push(id);
  const freelist = image.writeFreelist(freed);
  const current = { root, freelist, highWater: image.next };
  if (!options.previous) previous = current;

  const bytes = new Uint8Array(image.next * pageSize);
  for (const p of image.pages) bytes.set(p.bytes, p.id * pageSize);
  for (const [t, m] of [
    [txid - 1n, previous],
    [txid, current],
  ] as const) {
    const page = bytes.subarray(Number(t % 2n) * pageSize, (Number(t % 2n) + 1) * pageSize);
    writePageHeader({ id: Number(t % 2n), flags: PageFlag.meta, count: 0, overflow: 0 }, page);
    writeMeta(
      {
        magic: BOLT_MAGIC,
        version: BOLT_VERSION,
        pageSize,
        flags: 0,
        root: { root: m.root, sequence: 0n },
        freelist: m.freelist,
        highWater: m.highWater,
        txid: t,
      },
      page,
    );
  }
  return bytes;
}

class ImageBuilder {
  readonly pages: Array<{ id: number; bytes: Uint8Array }> = [];
  /** The next page id to allocate: 0 and 1 are the metas. */
  next = 2;

  constructor(
    readonly pageSize: number,
    readonly inline: boolean,
  ) {}

  /** Writes a bucket's tree (and its sub-buckets first) and returns its root page. */
  writeTree(tree: BoltTreeInput): number {
    return this.writeElements(this.elementsOf(tree));
  }

  /** Writes leaves holding `elements` (sorted, sub-buckets already written) and the branches above them; returns the root page. */
  private writeElements(elements: LeafElement[]): number {
    // Leaves: as many elements as fit a page; one element alone may overflow.
    let level = this.packed(elements, (e) => ELEMENT_SIZE + e.key.length + e.value.length).map((group) => ({
      key: group[0]?.key ?? new Uint8Array(0),
      child: this.page(PageFlag.leaf, group.length, leafPageBytes(group), (b) => writeLeafElements(group, b)),
    }));
    while (level.length > 1) {
      level = this.packed(level, (e) => ELEMENT_SIZE + e.key.length).map((group: BranchElement[]) => ({
        key: group[0].key,
        child: this.page(PageFlag.branch, group.length, branchPageBytes(group), (b) => writeBranchElements(group, b)),
      }));
    }
    return level[0].child;
  }

  /** Writes a freelist page (with overflow when needed) and returns its id. */
  writeFreelist(ids: readonly number[]): number {
    const count = ids.length >= FREELIST_COUNT_IN_DATA ? FREELIST_COUNT_IN_DATA : ids.length;
    return this.page(PageFlag.freelist, count, freelistBytes(ids.length), (b) => writeFreelist(ids, b));
  }

  /** The bucket's elements in key order, sub-buckets written (inline, or as trees) into their values. */
  private elementsOf(tree: BoltTreeInput): LeafElement[] {
    const entries = tree instanceof Map ? [...tree.entries()] : Object.entries(tree);
    const elements = entries.map(([k, v]): LeafElement => {
      const key = toBytes(k);
      if (key.length === 0) throw new ArgumentError('a bbolt key cannot be empty');
      if (v instanceof Uint8Array || typeof v === 'string') return { flags: 0, key, value: toBytes(v) };
      return { flags: BUCKET_LEAF_FLAG, key, value: this.bucketValue(v) };
    });
    elements.sort((a, b) => compareBytes(a.key, b.key));
    for (let i = 1; i < elements.length; i++) {
      if (compareBytes(elements[i - 1].key, elements[i].key) === 0) throw new ArgumentError('a key appears twice in one bucket');
    }
    return elements;
  }

  /** A sub-bucket's value: header and leaf page when it can be inline, else a header naming its root page. */
  private bucketValue(tree: BoltTreeInput): Uint8Array {
    const elements = this.elementsOf(tree);
    const size = leafPageBytes(elements);
    if (this.inline && size <= this.pageSize / 4 && elements.every((e) => (e.flags & BUCKET_LEAF_FLAG) === 0)) {
      const value = new Uint8Array(BUCKET_HEADER_SIZE + size);
      writeBucketHeader({ root: INLINE_ROOT, sequence: 0n }, value);
      const page = value.subarray(BUCKET_HEADER_SIZE);
      writePageHeader({ id: 0, flags: PageFlag.leaf, count: elements.length, overflow: 0 }, page);
      writeLeafElements(elements, page);
      return value;
    }
    const value = new Uint8Array(BUCKET_HEADER_SIZE);
    writeBucketHeader({ root: this.writeElements(elements), sequence: 0n }, value);
    return value;
  }

  /** Groups in order, each filling at most a page, never empty (one bucket with no elements gives one empty leaf). */
  private packed<E>(items: readonly E[], size: (e: E) => number): E[][] {
    const groups: E[][] = [[]];
    let used = PAGE_HEADER_SIZE;
    for (const item of items) {
      const n = size(item);
      const group = groups[groups.length - 1];
      if (group.length > 0 && used + n > this.pageSize) {
        groups.push([item]);
        used = PAGE_HEADER_SIZE + n;
      } else {
        group.push(item);
        used += n;
      }
    }
    return groups;
  }

  /** Allocates the pages `bytes` needs, writes the header and lets `fill` write the rest; returns the first page's id. */
  private page(flags: number, count: number, bytes: number, fill: (b: Uint8Array) => void): number {
    const span = Math.max(1, Math.ceil(bytes / this.pageSize));
    const id = this.next;
    this.next += span;
    const b = new Uint8Array(span * this.pageSize);
    writePageHeader({ id, flags, count, overflow: span - 1 }, b);
    fill(b);
    this.pages.push({ id, bytes: b });
    return id;
  }
}
