/**
 * A deleted thin device read as recovery brings it back (docs/recovery.md):
 * the mappings the evidence vouches for (intact, or shared with a live
 * device) give their data blocks; the rest (reallocated since, or of
 * unknown fate) read as zeros, as `export --deleted` writes them. What
 * compares a removed container or LV with another device reads this.
 */
import type { ByteSource } from '../../io/byte-source.js';
import { MappedDeviceSource } from '../device-source.js';
import { type DeletedDevice, vouchedFor } from './scan-deleted.js';
import { valueAtKey } from '../mapping-list.js';

export class RecoveredDeviceSource extends MappedDeviceSource {
  /** The vouched-for mappings, in virtual block order. */
  readonly vblocks: Float64Array;
  readonly dataBlocks: Float64Array;
  /** Mapped blocks not vouched for: read as zeros. */
  readonly withheld: number;

  constructor(name: string, dev: DeletedDevice, data: ByteSource, blockBytes: number, size: number) {
    super(name, data, blockBytes, size);
    let n = 0;
    for (let i = 0; i < dev.vblock.length; i++) if (vouchedFor(dev.verdict[i])) n++;
    this.vblocks = new Float64Array(n);
    this.dataBlocks = new Float64Array(n);
    let j = 0;
    for (let i = 0; i < dev.vblock.length; i++) {
      if (!vouchedFor(dev.verdict[i])) continue;
      this.vblocks[j] = dev.vblock[i];
      this.dataBlocks[j++] = dev.data[i];
    }
    this.withheld = dev.vblock.length - n;
  }

  dataBlockOf(v: number): number | undefined {
    return valueAtKey(this.vblocks, this.dataBlocks, v);
  }
}
