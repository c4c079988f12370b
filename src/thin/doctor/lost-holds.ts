/**
 * What each damaged device's lost ranges held (thin/lost-holds.ts), read
 * through what survives of its mapping tree and the mappings a repair
 * takes from older copies.
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { ThinDeviceSource } from '../device-source.js';
import { lostHolds } from '../lost-holds.js';
import type { MatchDevice } from './candidates.js';

export function describeLost(reader: BlockReader, data: ByteSource, blockBytes: number, devices: readonly MatchDevice[]): void {
  for (const d of devices) {
    const r = d.report;
    if (r.lost.length === 0) continue;
    if (d.root === undefined) {
      r.lostHoldsUnknown = 'the whole mapping tree is lost: nothing of its filesystem can be read';
      continue;
    }
    const root = d.root;
    const name = r.name ?? `thin device ${r.deviceId}`;
    Object.assign(
      r,
      lostHolds((size) => new ThinDeviceSource(name, reader, root, data, blockBytes, size, (v) => d.recovered.get(v)), r.lost, r.size),
    );
  }
}
