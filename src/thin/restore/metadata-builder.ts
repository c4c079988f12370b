/**
 * Writes a complete, fresh metadata image from a stream of devices and
 * mapping runs: the sink behind `restore` (XML in) and `repair` (damaged
 * metadata in). It is a DumpSink, so anything that can be dumped can be
 * rebuilt.
 *
 * Each device's mapping tree is written leaf by leaf as its runs stream
 * in; only per-device summaries and the per-block reference counts (typed
 * arrays) are held. At the end come the details tree, the top level of the
 * mapping tree, both space maps and the superblock. Everything is staged
 * (see io/staged-blocks.ts): bad input or a failure anywhere before end()
 * leaves the output byte-identical; end() copies the staged blocks over it,
 * superblock last, so an interrupted copy leaves no metadata that looks valid.
 * Shrink instead writes straight into the blocks its committed metadata
 * leaves free (a BuildTarget and an allocator of those blocks: the
 * kernel's shadowing), so that the old metadata stays whole until the
 * superblock, written last, commits the new.
 */
import { StagedBlocks } from '../../io/staged-blocks.js';
import { BLOCK_SIZE } from '../../format/checksum.js';
import { MAX_TIME } from '../../format/block-time.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, MAX_THIN_ID, writeDeviceDetails } from '../../format/device-details.js';
import { UsageError } from '../../errors.js';
import { MAX_METADATA_BLOCKS } from '../../format/index-entry.js';
import { SUPERBLOCK_MAGIC, validDataBlockSize, writeSuperblock } from '../../format/superblock.js';
import { BTreeBuilder, type NodeSink } from '../../pdata/btree/builder.js';
import { RefCounts } from '../../pdata/ref-counts.js';
import { nrBitmaps } from '../../format/bitmap.js';
import { writeDataSpaceMap, writeMetadataSpaceMap } from '../../pdata/space-map/builder.js';
import type { DumpHeader, DumpSink } from '../dump/dump.js';

export interface BuildResult {
  nrDevices: number;
  nrMappings: number;
  metadataNrBlocks: number;
  metadataBlocksUsed: number;
}

/** Device details as given; mapped_blocks is replaced by the count of runs received. */
export interface BuildDevice extends DeviceDetails {
  devId: number;
}

interface DeviceRecord extends DeviceDetails {
  devId: number;
  root: number;
}

/** Where built blocks go: StagedBlocks, or shrink's writes into free blocks; commit() makes them durable, block 0 last. */
export interface BuildTarget {
  write(b: number, data: Uint8Array): void;
  commit(): void;
  close(): void;
}

/** Hands out the next metadata block to write, or undefined when none is left. */
export type BlockAllocator = () => number | undefined;

/**
 * What was fed to the builder is wrong (a field out of range, mappings out
 * of order), as opposed to the output being unusable: restore reports these
 * at the XML line that caused them.
 */
export class BuildInputError extends UsageError {}

/** The output holds too few metadata blocks for what is built (MetadataBuilder.measure says how many would do). */
export class MetadataTooSmallError extends UsageError {}

/** Checks header fields the kernel would refuse; returns a message or undefined. */
function headerProblem(h: DumpHeader): string | undefined {
  const dbs = h.dataBlockSize;
  if (!validDataBlockSize(dbs)) {
    return `data_block_size ${dbs} is not a multiple of 128 sectors between 128 and 2097152`;
  }
  if (h.version < 1 || h.version > 2) return `version ${h.version} is not 1 or 2`;
  if (h.nrDataBlocks > 2 ** 40) return `nr_data_blocks ${h.nrDataBlocks} does not fit in 40 bits`;
  if (Buffer.byteLength(h.uuid) > 16) return `uuid "${h.uuid}" is longer than 16 bytes`;
  return undefined;
}

export class MetadataBuilder implements DumpSink {
  private readonly metaCounts: RefCounts;
  private next = 1;
  private readonly sink: NodeSink;
  private header: DumpHeader | undefined;
  private dataCounts: RefCounts | undefined;
  private readonly devices: DeviceRecord[] = [];
  private readonly seenIds = new Set<number>();
  private device: { rec: BuildDevice; tree: BTreeBuilder } | undefined;
  private nrMappings = 0;
  private result: BuildResult | undefined;

  private constructor(
    private readonly writer: BuildTarget,
    readonly nrBlocks: number,
    readonly outputPath: string,
    /** Absent: blocks 1, 2, 3, ... in order (a fresh image). */
    allocator?: { allocate: BlockAllocator; exhausted: string },
  ) {
    this.metaCounts = new RefCounts(nrBlocks);
    this.sink = {
      allocate: () => {
        let b: number | undefined;
        if (allocator) {
          b = allocator.allocate();
          if (b === undefined) throw new UsageError(allocator.exhausted);
          this.next++;
        } else {
          if (this.next >= nrBlocks) {
            throw new MetadataTooSmallError(
              `${outputPath} is too small: ${nrBlocks} metadata blocks (${(nrBlocks * BLOCK_SIZE) >> 10} KiB) are not enough for this pool; try a larger file`,
            );
          }
          b = this.next++;
        }
        this.metaCounts.inc(b);
        return b;
      },
      write: (b, d) => this.writer.write(b, d),
    };
  }

  /**
   * Checks `outputPath` (an existing file or block device, whose size is
   * the metadata size; none of `inputs`) and stages the build: the output
   * is written only when end() has built everything (see StagedBlocks).
   */
  /** `sizeHint`: the bytes a missing output should be made with (a repair's input size), for the message that says how. */
  static create(outputPath: string, inputs: readonly string[] = [], sizeHint?: number): MetadataBuilder {
    const staged = StagedBlocks.open(outputPath, inputs, 4, sizeHint);
    return new MetadataBuilder(staged, Math.min(staged.targetBlocks, MAX_METADATA_BLOCKS), outputPath);
  }

  /**
   * A builder that writes nothing: fed the same stream, its `built` says
   * how many of `nrBlocks` metadata blocks the metadata takes (the space
   * maps' own blocks grow with the size, so a smaller size may need fewer).
   */
  static measure(nrBlocks: number): MetadataBuilder {
    const nowhere: BuildTarget = { write: () => {}, commit: () => {}, close: () => {} };
    return new MetadataBuilder(nowhere, Math.min(nrBlocks, MAX_METADATA_BLOCKS), `a device of ${nrBlocks} metadata blocks`);
  }

  /**
   * Builds into `target` (already checked by the caller) using only the
   * blocks `allocate` hands out; `exhausted` is the error when it runs dry.
   */
  static into(target: BuildTarget, nrBlocks: number, outputPath: string, allocate: BlockAllocator, exhausted: string): MetadataBuilder {
    return new MetadataBuilder(target, nrBlocks, outputPath, { allocate, exhausted });
  }

  begin(h: DumpHeader): void {
    if (this.header) throw new BuildInputError('a second superblock');
    const problem = headerProblem(h);
    if (problem) throw new BuildInputError(problem);
    // The data space map needs a bitmap block per 16320 data blocks: a size the output cannot hold is refused before any work.
    const bitmaps = nrBitmaps(h.nrDataBlocks);
    if (bitmaps + 4 > this.nrBlocks) {
      throw new MetadataTooSmallError(
        `${this.outputPath} is too small for nr_data_blocks ${h.nrDataBlocks}: its data space map alone needs ${bitmaps} bitmap blocks, ` +
          `the output holds ${this.nrBlocks} metadata blocks; try a larger file, or check nr_data_blocks`,
      );
    }
    try {
      this.dataCounts = new RefCounts(h.nrDataBlocks);
    } catch {
      throw new UsageError(`cannot hold reference counts for nr_data_blocks ${h.nrDataBlocks} in memory (${h.nrDataBlocks} bytes)`);
    }
    this.header = h;
  }

  beginDevice(d: BuildDevice): void {
    if (!this.header || this.device) throw new BuildInputError('a device outside the superblock or inside another device');
    if (d.devId > MAX_THIN_ID) throw new BuildInputError(`dev_id ${d.devId} does not fit in 24 bits`);
    if (this.seenIds.has(d.devId)) throw new BuildInputError(`thin device ${d.devId} appears twice`);
    this.seenIds.add(d.devId);
    this.device = {
      rec: { devId: d.devId, mappedBlocks: 0, transactionId: d.transactionId, creationTime: d.creationTime, snapshottedTime: d.snapshottedTime },
      tree: new BTreeBuilder(this.sink, 8),
    };
  }

  /** The last virtual block added to the current device, -1 before the first. */
  get lastKey(): number {
    return this.device ? this.device.tree.lastAddedKey : -1;
  }

  run(origin: number, data: number, len: number, time: number): void {
    const dev = this.device;
    if (!dev || !this.dataCounts || !this.header) throw new BuildInputError('a mapping outside a device');
    if (len <= 0) throw new BuildInputError(`thin device ${dev.rec.devId}: a range of length ${len}`);
    if (time > MAX_TIME) throw new BuildInputError(`thin device ${dev.rec.devId}: time ${time} does not fit in 24 bits`);
    if (data + len > this.header.nrDataBlocks) {
      throw new BuildInputError(
        `thin device ${dev.rec.devId}: data blocks ${data}..${data + len - 1} are past the end of the data device (nr_data_blocks ${this.header.nrDataBlocks})`,
      );
    }
    if (origin <= dev.tree.lastAddedKey) {
      throw new BuildInputError(
        `thin device ${dev.rec.devId}: virtual block ${origin} is not after ${dev.tree.lastAddedKey}: mappings must be in increasing order`,
      );
    }
    const counts = this.dataCounts;
    const tree = dev.tree;
    for (let i = 0; i < len; i++) {
      tree.pushBlockTime(origin + i, data + i, time);
      counts.inc(data + i);
    }
  }

  /** Mappings received for the current device so far. */
  get deviceSize(): number {
    return this.device ? this.device.tree.size : 0;
  }

  endDevice(): void {
    const dev = this.device;
    if (!dev) throw new BuildInputError('end of a device that was not begun');
    this.nrMappings += dev.tree.size;
    this.devices.push({ ...dev.rec, mappedBlocks: dev.tree.size, root: dev.tree.finish() });
    this.device = undefined;
  }

  /** Writes the trees, space maps and, after a sync, the superblock. */
  end(): void {
    const header = this.header;
    if (!header || !this.dataCounts) throw new BuildInputError('no superblock');
    if (this.device) throw new BuildInputError('the superblock ends inside a device');
    const devices = this.devices.sort((a, b) => a.devId - b.devId);
    const details = new BTreeBuilder(this.sink, DEVICE_DETAILS_SIZE);
    const top = new BTreeBuilder(this.sink, 8);
    for (const d of devices) {
      const [b, off] = details.push(d.devId);
      writeDeviceDetails(d, b, off);
      top.pushU64(d.devId, d.root);
    }
    const detailsRoot = details.finish();
    const mappingRoot = top.finish();
    const dataSm = writeDataSpaceMap(this.sink, this.dataCounts);
    this.metaCounts.inc(0); // the superblock, written last
    const metaSm = writeMetadataSpaceMap(this.sink, this.metaCounts, this.nrBlocks);

    const uuid = new Uint8Array(16);
    uuid.set(Buffer.from(header.uuid).subarray(0, 16));
    this.writer.write(
      0,
      writeSuperblock({
        csum: 0,
        flags: header.flags,
        blocknr: 0,
        uuid,
        magic: SUPERBLOCK_MAGIC,
        version: header.version,
        time: header.time,
        transactionId: header.transaction,
        heldRoot: 0,
        dataSpaceMapRoot: dataSm,
        metadataSpaceMapRoot: metaSm,
        mappingRoot,
        detailsRoot,
        dataBlockSize: header.dataBlockSize,
        metadataBlockSize: 8,
        metadataNrBlocks: this.nrBlocks,
        compatFlags: 0,
        compatRoFlags: 0,
        incompatFlags: 0,
      }),
    );
    this.writer.commit();
    this.result = { nrDevices: devices.length, nrMappings: this.nrMappings, metadataNrBlocks: this.nrBlocks, metadataBlocksUsed: this.next };
  }

  /** What end() wrote; undefined before it. */
  get built(): BuildResult | undefined {
    return this.result;
  }

  /** Releases the staging file; before end() that leaves the output untouched. */
  close(): void {
    this.writer.close();
  }
}
