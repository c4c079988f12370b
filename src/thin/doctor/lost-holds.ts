/**
 * What a device's lost ranges held, in the filesystem's terms: the
 * filesystem on the device is read through what survives of its mapping
 * tree (and the mappings a repair takes from older copies), and its own
 * structures say whose blocks the lost ranges were (src/fs/describe.ts).
 * The lost blocks themselves are not read: they are gone; their owners
 * are named by the inode tables and directories that survive.
 */
import type { BlockReader } from '../../io/block-reader.js';
import type { ByteSource } from '../../io/byte-source.js';
import { MetadataError } from '../../format/errors.js';
import { UsageError } from '../../errors.js';
import { describeRanges } from '../../fs/describe.js';
import { detectFilesystem } from '../../fs/detect.js';
import { FsError } from '../../fs/errors.js';
import { ThinDeviceSource } from '../device-source.js';
import type { MatchDevice } from './candidates.js';

/** At most this many parts are listed per device; the rest are one part saying so (a file's contiguous blocks are one part). */
const MAX_PARTS = 10_000;

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
    const lostEnd = Math.max(...r.lost.map((x) => x.offset + x.length));
    const src = (size: number): ThinDeviceSource => new ThinDeviceSource(name, reader, root, data, blockBytes, size, (v) => d.recovered.get(v));
    try {
      // Without LVM's or Docker's size: the filesystem's own (its superblock lies in the first 64 KiB).
      const size = r.size ?? Math.max(lostEnd, detectFilesystem(src(Math.max(lostEnd, 65536)))?.bytes ?? 0);
      const desc = describeRanges(src(size), r.lost);
      r.lostHolds = desc.parts.slice(0, MAX_PARTS).map((p) => ({
        offset: p.offset,
        length: p.length,
        structure: p.structure,
        ...(p.owners?.length ? { owners: p.owners } : {}),
      }));
      const rest = desc.parts.slice(MAX_PARTS);
      if (rest.length > 0) {
        const from = rest[0].offset;
        const to = rest[rest.length - 1].offset + rest[rest.length - 1].length;
        r.lostHolds.push({ offset: from, length: to - from, structure: `${rest.length} more parts, not listed` });
      }
    } catch (e) {
      if (!(e instanceof FsError || e instanceof MetadataError || e instanceof UsageError)) throw e;
      r.lostHoldsUnknown = e.message;
    }
  }
}
