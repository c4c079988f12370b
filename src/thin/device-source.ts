/**
 * A thin device's virtual bytes as a ByteSource: each read goes down the
 * device's mapping tree to the data blocks it names and reads them from the
 * pool's data device; unmapped blocks read as zeros, as the kernel gives
 * them. What reads a filesystem on a thin device offline (file-level diffs,
 * what a lost range held) reads only the blocks it asks for, not the device.
 *
 * A node that cannot be read on the way is an error naming its block
 * (MetadataError), never zeros: a reader above could not tell those from
 * data. The last leaf is kept (a copy: the reader's cache reuses its
 * buffers), so reads that walk forward cost one lookup per leaf.
 */
import type { BlockReader } from '../io/block-reader.js';
import type { ByteSource } from '../io/byte-source.js';
import { BTreeNode } from '../format/btree-node.js';
import { MetadataError } from '../format/errors.js';
import { MAX_DEPTH } from '../pdata/btree/traversal.js';
import { UsageError } from '../errors.js';

/**
 * A device whose virtual blocks some lookup maps to the pool's data blocks:
 * the live tree (ThinDeviceSource) or what recovery brings back of a
 * deleted one (recover/recovered-source.ts). Unmapped blocks read as zeros.
 */
export abstract class MappedDeviceSource implements ByteSource {
  /** Bytes read from the data device so far (what a diff reports it read). */
  dataBytesRead = 0;

  constructor(
    readonly name: string,
    private readonly data: ByteSource,
    protected readonly blockBytes: number,
    /** The device's size in bytes (LVM's or Docker's; the kernel's table line). */
    readonly size: number,
  ) {}

  /** The data block virtual block `v` maps to, or undefined when unmapped. */
  abstract dataBlockOf(v: number): number | undefined;

  readAt(dst: Uint8Array, position: number): void {
    if (position < 0 || position + dst.length > this.size) {
      throw new UsageError(`${this.name}: read of ${dst.length} bytes at ${position} is outside the device (${this.size} bytes)`);
    }
    const bs = this.blockBytes;
    let done = 0;
    while (done < dst.length) {
      const at = position + done;
      const v = Math.floor(at / bs);
      const inBlock = at - v * bs;
      const n = Math.min(dst.length - done, bs - inBlock);
      const part = dst.subarray(done, done + n);
      const d = this.dataBlockOf(v);
      if (d === undefined) part.fill(0);
      else {
        this.data.readAt(part, d * bs + inBlock);
        this.dataBytesRead += n;
      }
      done += n;
    }
  }

  async readAtAsync(dst: Uint8Array, position: number): Promise<void> {
    this.readAt(dst, position);
  }

  /** The metadata reader and the data source belong to the caller. */
  close(): void {}
}

export class ThinDeviceSource extends MappedDeviceSource {
  private leaf: BTreeNode | undefined;

  /** Virtual blocks read as zeros because a node on their path could not be read (with `lost`). */
  lostReads = 0;

  constructor(
    name: string,
    private readonly reader: BlockReader,
    /** The device's mapping tree root. */
    readonly root: number,
    data: ByteSource,
    blockBytes: number,
    size: number,
    /**
     * For a damaged tree (the doctor reading what survives): a block whose
     * path meets an unreadable node is asked of this (the mappings a repair
     * takes from older copies), else read as zeros and counted, not an error.
     */
    private readonly lost?: (v: number) => number | undefined,
  ) {
    super(name, data, blockBytes, size);
  }

  /** The data block virtual block `v` maps to, or undefined when unmapped. */
  dataBlockOf(v: number): number | undefined {
    if (!this.lost) return this.lookup(v);
    try {
      return this.lookup(v);
    } catch (e) {
      if (!(e instanceof MetadataError)) throw e;
      const d = this.lost(v);
      if (d === undefined) this.lostReads++;
      return d;
    }
  }

  private lookup(v: number): number | undefined {
    const cached = this.leaf;
    if (cached && cached.nrEntries > 0 && v >= cached.key(0) && v <= cached.key(cached.nrEntries - 1)) return inLeaf(cached, v);
    const leaf = leafHolding(this.reader, this.root, v, this.name);
    if (!leaf) return undefined;
    this.leaf = new BTreeNode(leaf.bytes.slice(), leaf.location);
    return inLeaf(leaf, v);
  }
}

/**
 * The leaf of a mapping tree where virtual block `v` would be, read down one
 * path (the kernel's lookup, not a walk), or undefined when no subtree's
 * keys reach `v`. A node that cannot be read on the way throws, naming it.
 * The node is the reader's view: copy it to keep it.
 */
export function leafHolding(reader: BlockReader, root: number, v: number, name: string): BTreeNode | undefined {
  let b = root;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (b <= 0 || b >= reader.nrBlocks)
      throw new MetadataError(b, `${name}: mapping tree node at block ${b} is outside the metadata (${reader.nrBlocks} blocks)`);
    const node = BTreeNode.validated(reader.read(b), b, 8);
    if (node.isLeaf) return node;
    const at = node.lastKeyNotAbove(v);
    if (at < 0) return undefined;
    b = node.u64(at);
  }
  throw new MetadataError(root, `${name}: mapping tree deeper than ${MAX_DEPTH} levels (a cycle)`);
}

/** The data block a leaf maps `v` to, or undefined. */
export function inLeaf(node: BTreeNode, v: number): number | undefined {
  const at = node.lastKeyNotAbove(v);
  return at >= 0 && node.key(at) === v ? node.dataBlock(at) : undefined;
}
