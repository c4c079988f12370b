/**
 * New metadata written into the blocks the committed metadata leaves free,
 * as the kernel's transactions shadow: nothing the committed superblock
 * reaches is overwritten, so until block 0 is rewritten the pool is the
 * old one, whole. commit() syncs every block, then writes the superblock
 * (one 4 KiB block: the commit point) and syncs again.
 */
import { fsyncSync } from 'node:fs';
import { ENTRIES_PER_BITMAP, bitmapEntry } from '../../format/bitmap.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import type { SpaceMapRoot } from '../../format/space-map-root.js';
import { BlockWriter } from '../../io/block-writer.js';
import type { BlockReader } from '../../io/block-reader.js';
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

export class ShadowTarget implements BuildTarget {
  private readonly out: BlockWriter;
  private superblock: Uint8Array | undefined;
  private committed = false;

  constructor(
    readonly path: string,
    private readonly free: Uint32Array,
  ) {
    // Short runs: a crash mid-way leaves some new blocks written, which the tests want to see ignored.
    this.out = new BlockWriter(path, 4);
  }

  private next = 0;
  /** The allocator MetadataBuilder.into takes: only blocks free in the committed metadata. */
  readonly allocate = (): number | undefined => (this.next < this.free.length ? this.free[this.next++] : undefined);

  write(b: number, data: Uint8Array): void {
    if (b === 0) {
      this.superblock = data.slice(0, BLOCK_SIZE);
      return;
    }
    this.out.write(b, data);
    crashPoint('metadata-write');
  }

  commit(): void {
    if (this.committed || !this.superblock) throw new Error('ShadowTarget: commit without a superblock, or twice');
    this.out.sync();
    crashPoint('before-superblock');
    this.out.write(0, this.superblock);
    this.out.flush();
    fsyncSync(this.out.fd);
    this.committed = true;
    crashPoint('after-superblock');
  }

  close(): void {
    this.out.close();
  }
}
