/**
 * What a repair could not give back, device by device, in bytes, and —
 * when the pool's data is at hand — what those bytes held in each
 * device's filesystem (thin/lost-holds.ts), read through the repaired
 * device: its surviving mappings and the older copies the repair took.
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { ThinDeviceSource } from '../device-source.js';
import { type ByteSpan, type LostHolds, filesystemBytes, lostHolds } from '../lost-holds.js';
import type { SalvagedDevice } from './context.js';
import { openPoolData } from '../pool-data.js';
import type { Salvage } from './context.js';
import { type DeviceLoss, lostBlocks, saidMappedBlocks, toBytes } from './lost.js';
import { readSuperblockEvidence } from './superblock-evidence.js';

export interface DeviceLosses extends LostHolds {
  deviceId: number;
  /** Byte ranges of the device no mapping gives after the repair. */
  lost: ByteSpan[];
  /** The last range runs on to the device's end, which the metadata does not record (cut where the count of missing mappings reaches). */
  lostToEnd?: boolean;
}

/** The devices that lost bytes; with `data`, what each lost range held. */
export function repairLosses(reader: BlockReader, s: Salvage, data?: string | ByteSource): DeviceLosses[] {
  const bs = s.header.dataBlockSize * 512;
  const out: DeviceLosses[] = [];
  if (!s.devices.some((d) => d.holes.length > 0)) return out;
  const ev = readSuperblockEvidence(reader);
  const said = ev.sb ? saidMappedBlocks(reader, ev.sb.detailsRoot) : new Map<number, number>();
  const pool = data === undefined ? undefined : openPoolData(data, s.header.nrDataBlocks, bs);
  try {
    for (const d of s.devices) {
      if (d.holes.length === 0) continue;
      const open = pool && repairedDevice(reader, d, pool, bs);
      const loss = lossWithEnd(d, undefined, d.detailsSource === 'newest' ? said.get(d.devId) : undefined, open, bs);
      if (loss.blocks.length === 0) continue;
      const l: DeviceLosses = { deviceId: d.devId, lost: toBytes(loss.blocks, bs), ...(loss.toEnd ? { lostToEnd: true } : {}) };
      if (pool) {
        if (open) Object.assign(l, lostHolds(open, l.lost));
        else l.lostHoldsUnknown = 'the whole mapping tree is lost: nothing of its filesystem can be read';
      }
      out.push(l);
    }
  } finally {
    if (pool && pool !== data) pool.close();
  }
  return out;
}

/** The device as the repair gives it back (its surviving tree, older copies in its holes), opened at a size; undefined when its whole tree is lost. */
export function repairedDevice(reader: BlockReader, d: SalvagedDevice, data: ByteSource, bs: number): ((size: number) => ByteSource) | undefined {
  const root = d.root;
  if (root === undefined) return undefined;
  const recovered = new Map<number, number>();
  for (let i = 0; i < d.recovered.length; i++) recovered.set(d.recovered.keys[i], d.recovered.data[i]);
  const name = `thin device ${d.devId}`;
  return (size) => new ThinDeviceSource(name, reader, root, data, bs, size, (v) => recovered.get(v));
}

/**
 * What `d` lost (lostBlocks), with the last range run on to the device's
 * end where the metadata does not record it but the device's filesystem
 * does (`open`: the device as repaired) and that end lies past where the
 * missing count cut it: a bound that holds every lost block, as export's
 * is. A filesystem smaller than the count's end changes nothing.
 */
export function lossWithEnd(
  d: SalvagedDevice,
  sizeBlocks: number | undefined,
  said: number | undefined,
  open: ((size: number) => ByteSource) | undefined,
  bs: number,
): DeviceLoss {
  const loss = lostBlocks(d, sizeBlocks, said);
  if (!loss.toEnd || !open) return loss;
  const bytes = filesystemBytes(open);
  const fs = bytes === undefined ? undefined : Math.ceil(bytes / bs);
  const end = loss.blocks[loss.blocks.length - 1]?.hi ?? 0;
  return fs !== undefined && fs > end ? lostBlocks(d, fs, said) : loss;
}
