/**
 * One pass over every metadata block, classifying each by the salt that
 * makes its checksum valid (superblock, B-tree node, bitmap, index) and
 * keeping, for each usable B-tree node, what repair needs to find roots
 * and older copies without reading it again: leaf or internal, value
 * size, entry count, first and last key. Children of usable internal nodes
 * are marked referenced, so that unreferenced nodes are root candidates.
 *
 * All per-block state is in typed arrays (about 25 bytes a block).
 */
import type { BlockReader } from '../../io/block-reader.js';
import { BLOCK_SIZE, classifyBlock } from '../../format/checksum.js';
import { BTreeNode, INTERNAL_NODE, validateNodeHeader } from '../../format/btree-node.js';
import { MetadataError } from '../../format/errors.js';
import { hasSuperblockMagic, parseSuperblock } from '../../format/superblock.js';

export const NodeKind = { None: 0, Internal: 1, Leaf: 2 } as const;

export class NodeScan {
  readonly kind: Uint8Array;
  readonly valueSize: Uint8Array;
  readonly nrEntries: Uint16Array;
  readonly firstKey: Float64Array;
  readonly lastKey: Float64Array;
  /** 1 where a usable internal node points at the block. */
  readonly referenced: Uint8Array;
  /** Blocks other than 0 holding a valid superblock (metadata snapshot copies). */
  readonly superblockCopies: number[] = [];
  counts = { nodes: 0, superblocks: 0, bitmaps: 0, indexes: 0, unknown: 0 };

  private constructor(readonly nrBlocks: number) {
    this.kind = new Uint8Array(nrBlocks);
    this.valueSize = new Uint8Array(nrBlocks);
    this.nrEntries = new Uint16Array(nrBlocks);
    this.firstKey = new Float64Array(nrBlocks);
    this.lastKey = new Float64Array(nrBlocks);
    this.referenced = new Uint8Array(nrBlocks);
  }

  static run(reader: BlockReader, onProgress?: (done: number, total: number) => void): NodeScan {
    const n = reader.nrBlocks;
    const s = new NodeScan(n);
    const step = Math.max(1, Math.floor(n / 100));
    // Each block is classified and done with before the next: one buffer serves.
    const b = new Uint8Array(BLOCK_SIZE);
    for (let loc = 0; loc < n; loc++) {
      if (onProgress && loc % step === 0) onProgress(loc, n);
      reader.readInto(loc, b);
      switch (classifyBlock(b)) {
        case 'btreeNode':
          s.counts.nodes++;
          s.node(b, loc);
          break;
        case 'superblock':
          s.counts.superblocks++;
          if (loc !== 0 && hasSuperblockMagic(b) && parseSuperblock(b).blocknr === loc) s.superblockCopies.push(loc);
          break;
        case 'bitmap':
          s.counts.bitmaps++;
          break;
        case 'index':
          s.counts.indexes++;
          break;
        default:
          s.counts.unknown++;
      }
    }
    onProgress?.(n, n);
    return s;
  }

  private node(b: Uint8Array, loc: number): void {
    try {
      validateNodeHeader(b, loc);
    } catch (e) {
      if (e instanceof MetadataError) return;
      throw e;
    }
    const node = new BTreeNode(b, loc);
    const { flags, nrEntries: nr, valueSize: vs } = node;
    // Value sizes are kept in a byte; no tree of the format comes near.
    if (vs > 255 || node.firstBadKey() >= 0) return;
    this.kind[loc] = flags === INTERNAL_NODE ? NodeKind.Internal : NodeKind.Leaf;
    // Internal nodes hold u64 child pointers whatever their header says.
    this.valueSize[loc] = flags === INTERNAL_NODE ? 8 : vs;
    this.nrEntries[loc] = nr;
    if (nr > 0) {
      this.firstKey[loc] = node.key(0);
      this.lastKey[loc] = node.key(nr - 1);
    }
    if (flags === INTERNAL_NODE) {
      for (let i = 0; i < nr; i++) {
        const c = node.u64(i);
        if (c < this.nrBlocks) this.referenced[c] = 1;
      }
    }
  }

  isNode(b: number): boolean {
    return b >= 0 && b < this.nrBlocks && this.kind[b] !== NodeKind.None;
  }
}
