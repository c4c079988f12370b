/**
 * Who was snapshotted from whom, inferred offline. The kernel records no
 * origin, but it leaves two traces: a snapshot is created at the pool time
 * its origin's snap_time was set to (so an origin's snap_time is at least
 * its snapshot's creation_time), and the two share data blocks. The origin
 * of B is the device created before B, snapshotted at or after B's
 * creation, that shares the most data blocks with B.
 */
import { must } from '../../errors.js';
import type { Metadata, ThinDevice } from '../metadata.js';
import { forEachDataBlock } from '../mapping-scan.js';

export interface FamilyNode {
  devId: number;
  /** The inferred origin, undefined for a device that is no one's snapshot. */
  parent: number | undefined;
  /** Data blocks shared with the parent. */
  sharedWithParent: number;
}

/** Above this many devices, pairwise bitsets get costly: sharing is sampled instead. */
const MAX_EXACT_DEVICES = 256;

const SET = "a device's block set";

export function inferFamily(md: Metadata, devices: ThinDevice[] = md.devices()): FamilyNode[] {
  const nrData = Math.max(md.view.dataSpaceMapRoot.nrBlocks, md.superblock.dataSpaceMapRoot.nrBlocks, 1);
  const exact = devices.length <= MAX_EXACT_DEVICES;
  const bytes = Math.ceil(nrData / 8);
  const sets = new Map<number, Uint8Array>();
  for (const d of devices) {
    const set = new Uint8Array(exact ? bytes : Math.min(bytes, 1 << 16));
    const mod = set.length * 8;
    if (d.mappingRoot !== undefined) {
      forEachDataBlock(md.reader, d.mappingRoot, d.devId, (b) => {
        const x = b % mod;
        set[x >>> 3] |= 1 << (x & 7);
      });
    }
    sets.set(d.devId, set);
  }
  const order = [...devices].sort((a, b) => a.creationTime - b.creationTime || a.devId - b.devId);
  return order.map((b, i) => {
    let best: ThinDevice | undefined;
    let bestShared = 0;
    for (const a of order.slice(0, i)) {
      if (a.snapshottedTime < b.creationTime) continue;
      const shared = popcountAnd(must(sets.get(a.devId), SET), must(sets.get(b.devId), SET));
      if (shared > bestShared || (shared === bestShared && shared > 0 && best && a.creationTime > best.creationTime)) {
        best = a;
        bestShared = shared;
      }
    }
    return { devId: b.devId, parent: best?.devId, sharedWithParent: bestShared };
  });
}

const POP = new Uint8Array(256).map((_v, i) => {
  let n = 0;
  for (let x = i; x; x &= x - 1) n++;
  return n;
});

function popcountAnd(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] & b[i];
    if (x) n += POP[x];
  }
  return n;
}
