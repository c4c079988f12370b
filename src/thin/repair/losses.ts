/**
 * What a repair could not give back, device by device, in bytes, and —
 * when the pool's data is at hand — what those bytes held in each
 * device's filesystem (thin/lost-holds.ts), read through the repaired
 * device: its surviving mappings and the older copies the repair took.
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { ThinDeviceSource } from '../device-source.js';
import { type ByteSpan, type LostHolds, lostHolds } from '../lost-holds.js';
import { openPoolData } from '../pool-data.js';
import type { Salvage } from './context.js';
import { lostBlocks, saidMappedBlocks, toBytes } from './lost.js';
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
  for (const d of s.devices) {
    if (d.holes.length === 0) continue;
    const loss = lostBlocks(d, undefined, d.detailsSource === 'newest' ? said.get(d.devId) : undefined);
    if (loss.blocks.length === 0) continue;
    out.push({ deviceId: d.devId, lost: toBytes(loss.blocks, bs), ...(loss.toEnd ? { lostToEnd: true } : {}) });
  }
  if (data === undefined || out.length === 0) return out;
  const pool = openPoolData(data, s.header.nrDataBlocks, bs);
  try {
    for (const l of out) {
      const d = s.devices.find((x) => x.devId === l.deviceId);
      const root = d?.root;
      if (d === undefined || root === undefined) {
        l.lostHoldsUnknown = 'the whole mapping tree is lost: nothing of its filesystem can be read';
        continue;
      }
      const recovered = new Map<number, number>();
      for (let i = 0; i < d.recovered.length; i++) recovered.set(d.recovered.keys[i], d.recovered.data[i]);
      const name = `thin device ${d.devId}`;
      Object.assign(
        l,
        lostHolds((size) => new ThinDeviceSource(name, reader, root, pool, bs, size, (v) => recovered.get(v)), l.lost),
      );
    }
  } finally {
    if (pool !== data) pool.close();
  }
  return out;
}
