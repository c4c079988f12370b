/**
 * New metadata written into the blocks the committed metadata leaves free,
 * as the kernel's transactions shadow: nothing the committed superblock
 * reaches is overwritten, so until block 0 is rewritten the pool is the
 * old one, whole. commit() syncs every block, then writes the superblock
 * (one 4 KiB block: the commit point) and syncs again.
 */
import { ENTRIES_PER_BITMAP, bitmapEntry } from '../../format/bitmap.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import type { BlockReader } from '../../io/block-reader.js';
import type { WritableVolume } from '../../io/volume.js';
import { BTreeTraversal } from '../../pdata/btree/traversal.js';
import { bitmapSpan, readBitmap, readIndex } from '../../pdata/space-map/reader.js';
import type { BuildTarget } from '../restore/metadata-builder.js';
import { crashPoint } from './fault.js';

/** Metadata blocks the committed metadata space map counts 0, ascending (block 0 never). */
export function freeMetadataBlocks(reader: BlockReader, root: SpaceMapRoot): Uint32Array {
  const index = readIndex(reader, 'metadata', root, new BTreeTraversal(reader));
  const nr = Math.min(root.nrBlocks, reader.nrBlocks);
  const free = new Uint32Array(nr);
  let n = 0;
  for (let bi = 0; bi * ENTRIES_PER_BITMAP < nr; bi++) {
    const bm = readBitmap(reader, index, bi);
    const { first, count } = bitmapSpan(index, bi);
    for (let i = 0; i < count && first + i < nr; i++) {
      if (first + i !== 0 && bitmapEntry(bm, i) === 0) free[n++] = first + i;
    }
  }
  return free.subarray(0, n);
}

const RUN_BLOCKS = 4;

export class ShadowTarget implements BuildTarget {
  private superblock: Uint8Array | undefined;
  private committed = false;
  // Short runs of consecutive blocks, one write each: a crash mid-way leaves some new blocks written, which the tests want to see ignored.
  private readonly run = new Uint8Array(RUN_BLOCKS * BLOCK_SIZE);
  private runStart = -1;
  private runLen = 0;

  constructor(
    private readonly out: WritableVolume,
    private readonly free: Uint32Array,
  ) {}

  private next = 0;
  /** The allocator MetadataBuilder.into takes: only blocks free in the committed metadata. */
  readonly allocate = (): number | undefined => (this.next < this.free.length ? this.free[this.next++] : undefined);

  write(b: number, data: Uint8Array): void {
    if (b === 0) {
      this.superblock = data.slice(0, BLOCK_SIZE);
      return;
    }
    if (this.runLen > 0 && (b !== this.runStart + this.runLen || this.runLen === RUN_BLOCKS)) this.flush();
    if (this.runLen === 0) this.runStart = b;
    this.run.set(data.subarray(0, BLOCK_SIZE), this.runLen * BLOCK_SIZE);
    this.runLen++;
    crashPoint('metadata-write');
  }

  private flush(): void {
    if (this.runLen === 0) return;
    this.out.writeAt(this.run.subarray(0, this.runLen * BLOCK_SIZE), this.runStart * BLOCK_SIZE);
    this.runLen = 0;
  }

  commit(): void {
    if (this.committed || !this.superblock) throw new Error('ShadowTarget: commit without a superblock, or twice');
    this.flush();
    this.out.sync();
    crashPoint('before-superblock');
    this.out.writeAt(this.superblock, 0);
    this.out.sync();
    this.committed = true;
    crashPoint('after-superblock');
  }

  /** Writes what is queued; the volume is its opener's to close. */
  close(): void {
    this.flush();
  }
}
