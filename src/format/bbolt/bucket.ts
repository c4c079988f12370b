/**
 * A bbolt bucket, read-only: look-ups, nested buckets (inline or not) and
 * iteration in key order, over a B+tree of branch and leaf pages.
 *
 * The tree (bbolt cursor.go): a branch element's key is the first key of its
 * child, so a key lives under the last element whose key is <= it (or the
 * first, below every key); leaves hold the keys, sorted bytewise, and the
 * values, a value with flag 0x01 being a sub-bucket's header (and page, when
 * inline). The root bucket is the meta's; every other is a value.
 *
 * Hostile input: each page is judged when read (kind, count, element bounds,
 * key order), a page met twice in one walk or descent is a cycle or a shared
 * page and refused, descents stop at MAX_TREE_DEPTH, a sub-bucket whose root
 * is an enclosing bucket's root is refused (it would nest forever), and
 * nesting stops at MAX_BUCKET_DEPTH. Everything fails as a BoltError.
 */
import { BUCKET_HEADER_SIZE, type BucketHeader, INLINE_ROOT, parseBucketHeader } from './bucket-header.js';
import { type BranchElement, BUCKET_LEAF_FLAG, type LeafElement, parseBranchElements, parseLeafElements } from './elements.js';
import { type BoltWhere, boltFail } from './errors.js';
import { PageFlag, describeFlags, parsePageHeader } from './page.js';
import type { PageReader } from './page-reader.js';

/** Tree levels a descent may take: bbolt keeps at least two keys a page, so a real tree is far shallower. */
export const MAX_TREE_DEPTH = 64;
/** Buckets inside buckets: containerd nests about six. */
export const MAX_BUCKET_DEPTH = 256;

/** A key as given to get() and bucket(): bytes, or a string taken as UTF-8 (containerd's names). */
export type BoltKey = Uint8Array | string;

/** One entry of a bucket: a value, or a sub-bucket. Keys and values are copies, the caller's to keep. */
export type BoltEntry = { key: Uint8Array; value: Uint8Array; bucket?: undefined } | { key: Uint8Array; bucket: BoltBucket; value?: undefined };

/** What a bucket reads its pages through: the file's pages and the high-water mark of the meta its tree hangs from. */
export interface TreeContext {
  readonly pages: PageReader;
  readonly highWater: number;
}

/** One page of a tree, judged and decoded. `id` is the home page for an inline bucket's page, whose `pages` is 0. */
export type TreeNode =
  | { kind: 'branch'; id: number; pages: number; elements: BranchElement[] }
  | { kind: 'leaf'; id: number; pages: number; elements: LeafElement[] };

const utf8 = new TextEncoder();

export class BoltBucket {
  private constructor(
    private readonly ctx: TreeContext,
    readonly header: BucketHeader,
    /** The page of an inline bucket (value bytes after the header); undefined for a bucket with pages of its own. */
    private readonly inlinePage: Uint8Array | undefined,
    /** Where the bucket's value lies: its errors name this page. The meta's page for the root bucket. */
    readonly home: number,
    /** Root pages of this bucket and every bucket around it. */
    private readonly roots: ReadonlySet<number>,
    /** 0 for the root bucket. */
    readonly depth: number,
  ) {}

  /** The root bucket of a meta, read on page `metaPage`. */
  static root(ctx: TreeContext, header: BucketHeader, metaPage: number): BoltBucket {
    // bbolt never writes the root bucket inline: root 0 would be meta 0.
    if (header.root === INLINE_ROOT) boltFail({ file: ctx.pages.file, page: metaPage }, 'a root bucket with a root page', 'root 0');
    return new BoltBucket(ctx, header, undefined, metaPage, new Set([header.root]), 0);
  }

  get file(): string {
    return this.ctx.pages.file;
  }

  /** The bucket's root page; 0 for an inline bucket. */
  get root(): number {
    return this.header.root;
  }

  get sequence(): bigint {
    return this.header.sequence;
  }

  get inline(): boolean {
    return this.inlinePage !== undefined;
  }

  /** The value of `key`; undefined when there is none or it is a sub-bucket (as bbolt's Bucket.Get). A copy. */
  get(key: BoltKey): Uint8Array | undefined {
    const found = this.find(toBytes(key));
    if (!found || (found.element.flags & BUCKET_LEAF_FLAG) !== 0) return undefined;
    return found.element.value.slice();
  }

  /** The sub-bucket `name`; undefined when there is none or the key holds a value (as bbolt's Bucket.Bucket). */
  bucket(name: BoltKey): BoltBucket | undefined {
    const found = this.find(toBytes(name));
    if (!found || (found.element.flags & BUCKET_LEAF_FLAG) === 0) return undefined;
    return this.openChild(found.element, { file: this.file, page: found.page });
  }

  /** Every entry in key order. Fails with a BoltError at the first page that cannot be read. */
  *entries(): Generator<BoltEntry> {
    let last: Uint8Array | undefined;
    for (const node of this.nodes(new Set())) {
      if (node.kind !== 'leaf') continue;
      for (const [i, e] of node.elements.entries()) {
        // Within a page parse checked the order; this carries it across pages, which branch keys alone do not prove.
        if (last && compareBytes(last, e.key) >= 0)
          boltFail({ file: this.file, page: node.id }, 'keys in increasing order across pages', `element ${i} at or before the previous page's last key`);
        last = e.key;
        if ((e.flags & BUCKET_LEAF_FLAG) !== 0) yield { key: e.key.slice(), bucket: this.openChild(e, { file: this.file, page: node.id }) };
        else yield { key: e.key.slice(), value: e.value.slice() };
      }
    }
  }

  [Symbol.iterator](): Generator<BoltEntry> {
    return this.entries();
  }

  /**
   * Every page of this bucket's own tree (not its sub-buckets'), parents
   * before children, children in key order. A page already in `seen` is
   * refused, and each page read is added: one set across several buckets
   * makes a page shared between trees an error too (free-pages.ts walks so).
   */
  *nodes(seen: Set<number>): Generator<TreeNode> {
    if (this.inlinePage) {
      yield this.inlineNode(this.inlinePage);
      return;
    }
    const stack: Array<{ id: number; from: BoltWhere; depth: number }> = [{ id: this.root, from: { file: this.file, page: this.home }, depth: 0 }];
    for (let top = stack.pop(); top; top = stack.pop()) {
      const { id, from, depth } = top;
      if (seen.has(id)) boltFail(from, 'a page that no other element refers to', `page ${id} again`);
      const node = this.readNode(id, from, depth);
      seen.add(id);
      yield node;
      if (node.kind === 'branch') {
        for (let i = node.elements.length - 1; i >= 0; i--) stack.push({ id: node.elements[i].child, from: { file: this.file, page: id }, depth: depth + 1 });
      }
    }
  }

  /** Opens the sub-bucket whose header (and inline page) is `e.value`, found on page `where`. */
  openChild(e: LeafElement, where: BoltWhere): BoltBucket {
    const header = parseBucketHeader(e.value, where);
    if (this.depth + 1 > MAX_BUCKET_DEPTH) boltFail(where, `buckets nested at most ${MAX_BUCKET_DEPTH} deep`, 'deeper nesting');
    if (header.root === INLINE_ROOT) {
      return new BoltBucket(this.ctx, header, e.value.subarray(BUCKET_HEADER_SIZE), where.page, this.roots, this.depth + 1);
    }
    if (this.roots.has(header.root)) boltFail(where, "a sub-bucket root that is not an enclosing bucket's", `root page ${header.root}`);
    return new BoltBucket(this.ctx, header, undefined, where.page, new Set([...this.roots, header.root]), this.depth + 1);
  }

  /** The leaf element holding `key` and the page it is on, following bbolt's Cursor.seek. */
  private find(key: Uint8Array): { element: LeafElement; page: number } | undefined {
    let node = this.inlinePage ? this.inlineNode(this.inlinePage) : this.readNode(this.root, { file: this.file, page: this.home }, 0);
    const path = new Set<number>([node.id]);
    for (let depth = 1; node.kind === 'branch'; depth++) {
      const child = node.elements[Math.max(0, lastAtOrBelow(node.elements, key))].child;
      if (path.has(child)) boltFail({ file: this.file, page: node.id }, 'a child page not already on the path from the root', `page ${child} again`);
      path.add(child);
      node = this.readNode(child, { file: this.file, page: node.id }, depth);
    }
    const i = lastAtOrBelow(node.elements, key);
    if (i < 0 || compareBytes(node.elements[i].key, key) !== 0) return undefined;
    return { element: node.elements[i], page: node.id };
  }

  /** Page `id` as a tree page: a leaf or a branch, its elements inside it, keys non-empty and increasing. */
  private readNode(id: number, from: BoltWhere, depth: number): TreeNode {
    if (depth > MAX_TREE_DEPTH) boltFail(from, `a tree at most ${MAX_TREE_DEPTH} levels deep`, `a child at level ${depth}`);
    const page = this.ctx.pages.read(id, from, this.ctx.highWater);
    const where = { file: this.file, page: id };
    const { flags, count, overflow } = page.header;
    if (flags === PageFlag.leaf) return { kind: 'leaf', id, pages: overflow + 1, elements: checkedKeys(parseLeafElements(page.bytes, count, where), where) };
    if (flags !== PageFlag.branch) boltFail(where, 'a leaf or branch page', describeFlags(flags));
    // An empty branch leads nowhere; bbolt never writes one (node.go removes emptied nodes).
    if (count === 0) boltFail(where, 'a branch page with at least one element', 'count 0');
    return { kind: 'branch', id, pages: overflow + 1, elements: checkedKeys(parseBranchElements(page.bytes, count, where), where) };
  }

  /** The page inside an inline bucket's value: always a leaf (bucket.go inlineable), bounded by the value. */
  private inlineNode(page: Uint8Array): TreeNode {
    const where = { file: this.file, page: this.home };
    const header = parsePageHeader(page, where);
    if (header.flags !== PageFlag.leaf) boltFail(where, 'an inline bucket holding a leaf page', describeFlags(header.flags));
    return { kind: 'leaf', id: this.home, pages: 0, elements: checkedKeys(parseLeafElements(page, header.count, where), where) };
  }
}

/** Bytewise comparison, as Go's bytes.Compare. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function toBytes(key: BoltKey): Uint8Array {
  return typeof key === 'string' ? utf8.encode(key) : key;
}

/** Index of the last element whose key is <= `key`, -1 when every key is above it; elements are sorted (checkedKeys). */
function lastAtOrBelow(elements: ReadonlyArray<{ key: Uint8Array }>, key: Uint8Array): number {
  let lo = 0;
  let hi = elements.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(elements[mid].key, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The elements, once their keys are known non-empty (inode.go asserts it) and strictly increasing: binary search needs both. */
function checkedKeys<E extends { key: Uint8Array }>(elements: E[], where: BoltWhere): E[] {
  for (let i = 0; i < elements.length; i++) {
    if (elements[i].key.length === 0) boltFail(where, `a non-empty key in element ${i}`, 'an empty key');
    if (i > 0 && compareBytes(elements[i - 1].key, elements[i].key) >= 0)
      boltFail(where, 'keys in increasing order', `element ${i} at or before element ${i - 1}`);
  }
  return elements;
}
