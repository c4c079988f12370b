/**
 * Device details: the 24-byte value of the details tree, keyed by thin id
 * (dm-thin-metadata.c, struct disk_device_details).
 * ```
 *  0 u64 mapped_blocks
 *  8 u64 transaction_id    when created
 * 16 u32 creation_time
 * 20 u32 snapshotted_time
 * ```
 */
import { getU32, getU64, getU64Big, setU32, setU64, setU64Big } from './le.js';

export const DEVICE_DETAILS_SIZE = 24;
/** Thin ids are 24-bit. */
export const MAX_THIN_ID = 2 ** 24 - 1;

export interface DeviceDetails {
  mappedBlocks: number;
  /** A u64 in full: thin-provisioning-tools and LVM may set any value. */
  transactionId: bigint;
  creationTime: number;
  snapshottedTime: number;
}

export function parseDeviceDetails(b: Uint8Array, off = 0): DeviceDetails {
  return {
    mappedBlocks: getU64(b, off),
    transactionId: getU64Big(b, off + 8),
    creationTime: getU32(b, off + 16),
    snapshottedTime: getU32(b, off + 20),
  };
}

export function writeDeviceDetails(d: DeviceDetails, out: Uint8Array, off = 0): void {
  setU64(out, off, d.mappedBlocks);
  setU64Big(out, off + 8, d.transactionId);
  setU32(out, off + 16, d.creationTime);
  setU32(out, off + 20, d.snapshottedTime);
}
