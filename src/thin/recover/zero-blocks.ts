/**
 * With the data device at hand: which of a deleted device's vouched-for
 * blocks read as all zeros. Docker's devicemapper driver discards a
 * device's blocks before deleting it (dm.blkdiscard, on by default), so its
 * metadata survives while its data reads as zeros: a device whose blocks
 * are all zero was most likely discarded, and exporting it gives nothing.
 */
import type { ByteSource } from '../../io/byte-source.js';
import { openPoolData } from '../pool-data.js';
import { isZero } from '../../io/full-io.js';
import { type DeletedCounts, type DeletedScan, deletedCounts, vouchedFor } from './scan-deleted.js';

/** Per deleted device id: intact or shared blocks that read as all zeros. */
export function zeroBlocks(scan: DeletedScan, dataInput: string | ByteSource): Map<number, number> {
  const bs = scan.dataBlockSize * 512;
  const data = openPoolData(dataInput, scan.nrDataBlocks, bs);
  try {
    const buf = new Uint8Array(bs);
    const out = new Map<number, number>();
    for (const d of scan.devices) {
      let zeros = 0;
      for (let i = 0; i < d.data.length; i++) {
        if (!vouchedFor(d.verdict[i])) continue;
        data.readAt(buf, d.data[i] * bs);
        if (isZero(buf, bs)) zeros++;
      }
      out.set(d.devId, zeros);
    }
    return out;
  } finally {
    data.close();
  }
}

/** A deleted device in a listing: its verdict counts, and whether it was discarded before the delete. */
export interface DeletedSummary extends DeletedCounts {
  /** Every block the evidence vouches for reads as zeros: discarded before the delete (Docker's dm.blkdiscard, containerd's discard_blocks). Undefined without the data, or with data of the wrong size. */
  discarded?: boolean;
}

/** What `docker ls` and `containerd ls --deleted` list of each deleted device. */
export function summarizeDeleted(scan: DeletedScan, dataInput?: string | ByteSource): DeletedSummary[] {
  let zeros: Map<number, number> | undefined;
  if (dataInput !== undefined) {
    try {
      zeros = zeroBlocks(scan, dataInput);
    } catch {
      zeros = undefined; // a data file of the wrong size: say nothing about discards
    }
  }
  return scan.devices.map((d) => {
    const vouched = d.counts.intact + d.counts.shared;
    const z = zeros?.get(d.devId);
    return { ...deletedCounts(d), discarded: z === undefined ? undefined : vouched > 0 && z === vouched };
  });
}
