/**
 * Point look-ups of reference counts in an on-disk data space map, for
 * repair: before an older copy of a mapping is trusted, the newest space
 * map must still count its data block. Damaged parts answer "unknown"
 * rather than failing: whatever they cover is simply not recovered.
 */
import type { BlockReader } from '../../io/block-reader.js';
import { ENTRIES_PER_BITMAP, OVERFLOW, bitmapEntry } from '../../format/bitmap.js';
import { MetadataError } from '../../format/errors.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import { rangeText } from '../btree/problem.js';
import { BTreeTraversal } from '../btree/traversal.js';
import { type RefCountTree, type SpaceMapIndex, readBitmap, readIndex, readRefCounts, refCountOf } from './reader.js';

export class SpaceMapLookup {
  private readonly index: SpaceMapIndex;
  private readonly refCounts: RefCountTree;
  private cachedBitmap = -1;
  private cached: Uint8Array | undefined;
  /** What could not be read, for the report. */
  readonly problems: string[] = [];

  constructor(
    private readonly reader: BlockReader,
    readonly root: SpaceMapRoot,
  ) {
    const walk = new BTreeTraversal(reader);
    this.index = readIndex(reader, 'data', root, walk, (p) => this.problems.push(`space map index entries ${rangeText(p.range)} lost: ${p.message}`));
    this.refCounts = readRefCounts(root.refCountRoot, 'data', walk, (p) =>
      this.problems.push(`space map ref-count entries ${rangeText(p.range)} lost: ${p.message}`),
    );
  }

  /** The count of block `b`, or undefined where the space map cannot say. */
  get(b: number): number | undefined {
    if (!(b >= 0 && b < this.root.nrBlocks)) return undefined;
    const bi = Math.floor(b / ENTRIES_PER_BITMAP);
    if (bi !== this.cachedBitmap) {
      this.cachedBitmap = bi;
      this.cached = undefined;
      if (this.index.entries[bi]) {
        try {
          this.cached = readBitmap(this.reader, this.index, bi);
        } catch (e) {
          if (!(e instanceof MetadataError)) throw e;
          this.problems.push(`${e.message}: its ${ENTRIES_PER_BITMAP} counts are unknown`);
        }
      }
    }
    if (!this.cached) return undefined;
    const v = bitmapEntry(this.cached, b - bi * ENTRIES_PER_BITMAP);
    return v !== OVERFLOW ? v : refCountOf(this.refCounts, b);
  }
}
