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
import { type DeletedScan, vouchedFor } from './scan-deleted.js';

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
