/**
 * Which live device a deleted one shares the most data blocks with, at the
 * same virtual blocks: for a deleted snapshot, its origin most likely (a
 * snapshot shares every block it did not write). Offered to a person as a
 * suggestion with its numbers, never taken silently.
 */
import type { Metadata } from '../metadata.js';
import { MetadataError } from '../../format/errors.js';
import { forEachMapping } from '../mapping-scan.js';
import type { DeletedDevice } from './scan-deleted.js';
import { valueAtKey } from '../mapping-list.js';

export interface ClosestLive {
  devId: number;
  /** Mappings of the deleted device the live one has too: same virtual block, same data block. */
  shared: number;
  mapped: number;
}

export function closestLive(md: Metadata, deleted: DeletedDevice): ClosestLive | undefined {
  // Virtual block -> data block of the deleted device: its columns are in key order.
  const at = (v: number): number => valueAtKey(deleted.vblock, deleted.data, v) ?? -1;
  let best: ClosestLive | undefined;
  for (const d of md.devices()) {
    if (d.mappingRoot === undefined) continue;
    let shared = 0;
    try {
      forEachMapping(md.reader, d.mappingRoot, d.devId, (v, data) => {
        if (at(v) === data) shared++;
      });
    } catch (e) {
      // A damaged tree counts what was read before the damage: a suggestion, not a verdict.
      if (!(e instanceof MetadataError)) throw e;
    }
    if (shared > 0 && (!best || shared > best.shared)) best = { devId: d.devId, shared, mapped: deleted.vblock.length };
  }
  return best;
}
