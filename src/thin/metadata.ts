/**
 * Opens pool metadata for reading: the superblock (or the held metadata
 * snapshot's copy of it), the device details and each device's mapping
 * root. Everything else (mappings, space maps) is streamed by its users.
 */
import { BlockReader } from '../io/block-reader.js';
import type { ByteSource } from '../io/byte-source.js';
import { DEVICE_DETAILS_SIZE, type DeviceDetails, parseDeviceDetails } from '../format/device-details.js';
import { UsageError } from '../errors.js';
import { DATA_BLOCK_SIZE_RULE, type Superblock, validDataBlockSize, validateSuperblock } from '../format/superblock.js';
import { collectU64Leaves, forEachLeaf } from '../pdata/btree/traversal.js';

export interface ThinDevice extends DeviceDetails {
  devId: number;
  /** Root of the device's mapping tree, or undefined when the top level lacks it. */
  mappingRoot: number | undefined;
}

export interface OpenOptions {
  /**
   * Read the held metadata snapshot instead of the live superblock: `true`
   * for the one the superblock names, or a block number.
   */
  metadataSnap?: boolean | number;
}

/**
 * The UsageError for a thin device id the metadata does not hold: it names
 * the ids it does hold, so the next command can be typed (`label`: which
 * option asked, e.g. "--snap1: ").
 */
export function noSuchDevice(devId: number, devices: readonly ThinDevice[], label = '', deleted?: readonly number[]): UsageError {
  const ids = devices.filter((d) => d.mappingRoot !== undefined).map((d) => d.devId);
  const list = (xs: readonly number[]) => (xs.length > 20 ? `${xs.slice(0, 20).join(', ')}, ... (${xs.length} in all; dmthin ls lists them)` : xs.join(', '));
  const removed =
    deleted === undefined ? '' : deleted.length ? `; removed devices whose trees survive: ${list(deleted)}` : '; no removed device survives either';
  return new UsageError(
    `${label}no thin device ${devId} in the metadata (${ids.length ? `its thin devices: ${list(ids)}` : 'it holds no thin device'}${removed})`,
  );
}

export class Metadata {
  private constructor(
    readonly reader: BlockReader,
    /** The live superblock at block 0. */
    readonly superblock: Superblock,
    /** The superblock whose trees are read: block 0's or the metadata snapshot's. */
    readonly view: Superblock,
    readonly viewLocation: number,
  ) {}

  /** Opens the metadata in a file or device (`input`), or in any ByteSource (an LV inside disk images). */
  static open(input: string | ByteSource, options: OpenOptions = {}): Metadata {
    const reader = new BlockReader(input);
    const path = reader.path;
    try {
      if (reader.nrBlocks === 0)
        throw new UsageError(
          `${path} ${reader.size === 0 ? 'is empty' : `is ${reader.size} bytes, less than one 4096-byte metadata block`}: no superblock, so it is not pool metadata`,
        );
      const sb = validateSuperblock(reader.read(0), 0);
      let view = sb;
      let at = 0;
      if (options.metadataSnap !== undefined && options.metadataSnap !== false) {
        at = options.metadataSnap === true ? sb.heldRoot : options.metadataSnap;
        if (at === 0) throw new UsageError(`${path} holds no metadata snapshot (held_root is 0)`);
        if (at >= reader.nrBlocks) throw new UsageError(`metadata snapshot block ${at} is past the end of ${path}`);
        view = validateSuperblock(reader.read(at), at);
      }
      return new Metadata(reader, sb, view, at);
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  /** Every device in the details tree, by id, with its mapping root. */
  devices(): ThinDevice[] {
    const snapshot = this.viewLocation !== 0;
    const roots = new Map(collectU64Leaves(this.reader, this.view.mappingRoot, { kind: 'top-level', snapshot }));
    const out: ThinDevice[] = [];
    forEachLeaf(this.reader, this.view.detailsRoot, DEVICE_DETAILS_SIZE, { kind: 'details', snapshot }, (node) => {
      for (let i = 0; i < node.nrEntries; i++) {
        const devId = node.key(i);
        out.push({ devId, mappingRoot: roots.get(devId), ...parseDeviceDetails(node.bytes, node.valueOffset(i)) });
      }
    });
    return out;
  }

  /**
   * The data block size in bytes, refused when the kernel would refuse it
   * (dm-thin.c pool_ctr): every offset into the data device is a block
   * number times this, so a size of 0 would read every block from byte 0
   * and report the device as exported. check names the field; repair
   * rebuilds the superblock with --data-block-size.
   */
  dataBlockBytes(): number {
    const sectors = this.view.dataBlockSize;
    if (!validDataBlockSize(sectors)) {
      const at = this.viewLocation === 0 ? 'superblock (block 0)' : `metadata snapshot's superblock (block ${this.viewLocation})`;
      throw new UsageError(
        `${this.reader.path}: ${at}: data_block_size ${sectors} sectors ${DATA_BLOCK_SIZE_RULE}, so no data block can be located; ` +
          `dmthin repair -i ${this.reader.path} -o NEW --data-block-size SECTORS rebuilds it (the pool's chunk size: lvs -o+chunk_size, or the 4th argument of its dmsetup table line)`,
      );
    }
    return sectors * 512;
  }

  close(): void {
    this.reader.close();
  }
}
