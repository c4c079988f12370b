/**
 * Point look-ups of reference counts in an on-disk data space map, for
 * repair: before an older copy of a mapping is trusted, the newest space
 * map must still count its data block. Damaged parts answer "unknown"
 * rather than failing: whatever they cover is simply not recovered.
 */
import type { BlockReader } from '../io/block-reader.js';
import { ENTRIES_PER_BITMAP, OVERFLOW, bitmapEntry, validateBitmap } from '../format/bitmap.js';
import { keyAt, valueOffset } from '../format/btree-node.js';
import { MetadataError } from '../format/errors.js';
import { INDEX_ENTRY_SIZE, parseIndexEntry } from '../format/index-entry.js';
import { getU32 } from '../format/le.js';
import type { SpaceMapRoot } from '../format/space-map-root.js';
import { grow } from './grow.js';
import { SalvageWalker } from './salvage-walk.js';

export class SpaceMapLookup {
  /** Bitmap block per bitmap number; -1 where the index is lost. */
  private readonly bitmaps: Float64Array;
  private overflowBlocks = new Float64Array(64);
  private overflowCounts = new Uint32Array(64);
  private nOverflow = 0;
  /** Key ranges of the ref-count tree that are lost: counts of 3+ there are unknown. */
  private readonly lostOverflow: Array<[number, number]> = [];
  private cachedBitmap = -1;
  private cached: Uint8Array | undefined;
  /** What could not be read, for the report. */
  readonly problems: string[] = [];

  constructor(
    private readonly reader: BlockReader,
    readonly root: SpaceMapRoot,
  ) {
    const nBitmaps = Math.ceil(root.nrBlocks / ENTRIES_PER_BITMAP);
    this.bitmaps = new Float64Array(nBitmaps).fill(-1);
    new SalvageWalker(reader, INDEX_ENTRY_SIZE).walk(
      root.bitmapRoot,
      (b, _loc, n, max) => {
        for (let i = 0; i < n; i++) {
          const k = keyAt(b, i);
          if (k < nBitmaps) this.bitmaps[k] = parseIndexEntry(b, valueOffset(max, INDEX_ENTRY_SIZE, i)).blocknr;
        }
      },
      (lo, hi, _block, why) => this.problems.push(`space map index entries ${lo}..${hi === Infinity ? 'end' : hi - 1} lost: ${why}`),
    );
    new SalvageWalker(reader, 4).walk(
      root.refCountRoot,
      (b, _loc, n, max) => {
        if (this.nOverflow + n > this.overflowBlocks.length) {
          this.overflowBlocks = grow(this.overflowBlocks, this.nOverflow + n);
          this.overflowCounts = grow(this.overflowCounts, this.nOverflow + n);
        }
        for (let i = 0; i < n; i++) {
          this.overflowBlocks[this.nOverflow] = keyAt(b, i);
          this.overflowCounts[this.nOverflow++] = getU32(b, valueOffset(max, 4, i));
        }
      },
      (lo, hi, _block, why) => {
        this.lostOverflow.push([lo, hi]);
        this.problems.push(`space map ref-count entries ${lo}..${hi === Infinity ? 'end' : hi - 1} lost: ${why}`);
      },
    );
  }

  /** The count of block `b`, or undefined where the space map cannot say. */
  get(b: number): number | undefined {
    if (!(b >= 0 && b < this.root.nrBlocks)) return undefined;
    const bi = Math.floor(b / ENTRIES_PER_BITMAP);
    if (bi !== this.cachedBitmap) {
      this.cachedBitmap = bi;
      this.cached = undefined;
      const at = this.bitmaps[bi]!;
      if (at >= 0 && at < this.reader.nrBlocks) {
        const blk = this.reader.read(at).slice();
        try {
          validateBitmap(blk, at);
          this.cached = blk;
        } catch (e) {
          if (!(e instanceof MetadataError)) throw e;
          this.problems.push(`bitmap ${bi} (${e.message}): its ${ENTRIES_PER_BITMAP} counts are unknown`);
        }
      }
    }
    if (!this.cached) return undefined;
    const v = bitmapEntry(this.cached, b - bi * ENTRIES_PER_BITMAP);
    if (v !== OVERFLOW) return v;
    // Binary search the ref-count tree's entries (they arrive in key order).
    let lo = 0;
    let hi = this.nOverflow;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.overflowBlocks[mid]! < b) lo = mid + 1;
      else hi = mid;
    }
    if (lo < this.nOverflow && this.overflowBlocks[lo] === b) return this.overflowCounts[lo]!;
    return undefined;
  }
}
