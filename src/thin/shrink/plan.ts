/**
 * The shrink plan: which data blocks at or past the new size move, and to
 * which block below it. Only blocks the committed data space map counts 0
 * (and no mapping uses) are destinations, so copying into them disturbs
 * nothing the committed metadata reads. Sources and destinations are both
 * taken in ascending order: the same metadata and size always give the
 * same plan (a re-run after a crash copies the same blocks to the same
 * places), and neighbouring blocks stay neighbours where the free space
 * allows, so the copy runs in long sequential stretches.
 *
 * A block is counted once however many mappings use it (snapshots share):
 * it moves once and every mapping follows it. Blocks are kept in typed
 * arrays: one byte a data block while counting, four a moving block.
 */
import { UsageError } from '../../errors.js';
import { SpaceMapLookup } from '../../pdata/space-map/lookup.js';
import { type DumpHeader, dump } from '../dump/dump.js';
import type { Metadata } from '../metadata.js';

export interface ShrinkPlan {
  /** Data blocks before and after. */
  oldNrBlocks: number;
  newNrBlocks: number;
  /** Bytes a data block holds. */
  blockBytes: number;
  /** Distinct data blocks some mapping uses. */
  usedBlocks: number;
  /** The smallest size (in data blocks) the used blocks fit in, given where the free ones lie. */
  minNrBlocks: number;
  /** Up to SAMPLE mapped data blocks spread over the device, ascending: what guards.ts reads to tell the pool's data from a stranger's. */
  sampleMapped: number[];
  /** Moving blocks: from[i] -> to[i], from ascending. */
  from: Uint32Array;
  to: Uint32Array;
  /** Mappings per device, for the metadata estimate. */
  mappingsPerDevice: number[];
  /** Data blocks mapped three times or more (the ref-count tree's entries). */
  sharedBeyondBitmap: number;
  /** The last data block some mapping uses, -1 when none. */
  lastUsed: number;
  header: DumpHeader;
}

/** Saturating per-block mapping counts, one byte each (255: 255 or more). */
function countMappings(md: Metadata, nrBlocks: number): { counts: Uint8Array; perDevice: number[]; header: DumpHeader } {
  let counts: Uint8Array;
  try {
    counts = new Uint8Array(nrBlocks);
  } catch {
    throw new UsageError(`cannot hold counts for nr_data_blocks ${nrBlocks} in memory (${nrBlocks} bytes)`);
  }
  const perDevice: number[] = [];
  let header: DumpHeader | undefined;
  let n = 0;
  dump(md, {
    begin: (h) => {
      header = h;
    },
    beginDevice: () => {
      n = 0;
    },
    run: (_origin, data, len) => {
      if (data + len > nrBlocks) {
        throw new UsageError(`data blocks ${data}..${data + len - 1} are mapped past nr_data_blocks ${nrBlocks}: run \`dmthin check\` on the metadata`);
      }
      for (let i = data; i < data + len; i++) if (counts[i] !== 255) counts[i]++;
      n += len;
    },
    endDevice: () => {
      perDevice.push(n);
    },
    end: () => {},
  });
  if (!header) throw new UsageError('the metadata gave no superblock');
  return { counts, perDevice, header };
}

/** Mapped blocks read, at most, to tell the pool's data file from another (guards.ts refuseStrangerData). */
const SAMPLE = 64;

/** Sizes a pool may take beside whole data blocks (an LVM pool: whole extents, stripes kept equal), for the refusal's advice. */
export interface SizeUnit {
  /** The smallest size the pool may take at or above `blocks` data blocks. */
  roundUp(blocks: number): number;
  /** What makes a size one it may take ("whole 4194304-byte extents"). */
  what: string;
}

/** "; in WHAT: --size B (N data blocks)": the smallest size the pool may take at or above `blocks`. */
function inUnits(blocks: number, blockBytes: number, unit: SizeUnit): string {
  const up = unit.roundUp(blocks);
  return up === blocks ? '' : `; in ${unit.what}: --size ${up * blockBytes} (${up} data blocks)`;
}

/**
 * Plans a shrink of the pool in `md` to `newNrBlocks` data blocks; throws a
 * UsageError naming the smallest size that fits when the used blocks do not.
 */
export function planShrink(md: Metadata, newNrBlocks: number, unit?: SizeUnit): ShrinkPlan {
  const oldNrBlocks = md.view.dataSpaceMapRoot.nrBlocks;
  const blockBytes = md.view.dataBlockSize * 512;
  const { counts, perDevice, header } = countMappings(md, oldNrBlocks);
  const sm = new SpaceMapLookup(md.reader, md.view.dataSpaceMapRoot);
  // A block is a destination only when nothing maps it and the committed space map counts it free.
  const free = new Uint8Array(Math.min(newNrBlocks, oldNrBlocks));
  let usedBlocks = 0;
  let shared = 0;
  let lastUsed = -1;
  for (let b = 0; b < oldNrBlocks; b++) {
    const c = counts[b];
    if (c !== 0) {
      usedBlocks++;
      lastUsed = b;
      if (c >= 3) shared++;
    } else if (b < free.length && sm.get(b) === 0) {
      free[b] = 1;
    }
  }
  if (sm.problems.length) throw new UsageError(`the data space map cannot be read: ${sm.problems[0]}: run \`dmthin check\` on the metadata`);
  // f(S) = free blocks below S minus used blocks at or past S never falls as S grows: the first S where it is >= 0 is the smallest that fits.
  let minNrBlocks = 0;
  {
    let need = usedBlocks;
    let have = 0;
    while (have < need) {
      if (counts[minNrBlocks] !== 0) need--;
      else if (minNrBlocks < free.length ? free[minNrBlocks] === 1 : sm.get(minNrBlocks) === 0) have++;
      minNrBlocks++;
    }
  }
  if (newNrBlocks < minNrBlocks && minNrBlocks >= oldNrBlocks) {
    throw new UsageError(
      `cannot shrink to ${newNrBlocks} data blocks: the pool is full (${usedBlocks} of its ${oldNrBlocks} data blocks in use, none free below its end): nothing can be given back; free space in it first (remove thin devices, or fstrim the filesystems on its thin devices while the pool runs)`,
    );
  }
  if (newNrBlocks < minNrBlocks) {
    throw new UsageError(
      `cannot shrink to ${newNrBlocks} data blocks: ${usedBlocks} blocks are in use and, with the free blocks where they lie, the smallest size that fits is ${minNrBlocks} data blocks (${minNrBlocks * blockBytes} bytes)${unit ? inUnits(minNrBlocks, blockBytes, unit) : ''}`,
    );
  }
  let moving = 0;
  for (let b = newNrBlocks; b < oldNrBlocks; b++) if (counts[b] !== 0) moving++;
  const from = new Uint32Array(moving);
  const to = new Uint32Array(moving);
  let dst = 0;
  let i = 0;
  for (let b = newNrBlocks; b < oldNrBlocks; b++) {
    if (counts[b] === 0) continue;
    while (free[dst] !== 1) dst++;
    from[i] = b;
    to[i++] = dst++;
  }
  // A few mapped blocks spread over the device, to tell the pool's data file from a stranger's (guards.ts).
  const sampleMapped: number[] = [];
  const step = Math.max(1, Math.ceil(usedBlocks / SAMPLE));
  for (let b = 0, k = 0; b < oldNrBlocks; b++) if (counts[b] !== 0 && k++ % step === 0) sampleMapped.push(b);
  return {
    oldNrBlocks,
    newNrBlocks,
    blockBytes,
    usedBlocks,
    minNrBlocks,
    from,
    to,
    sampleMapped,
    mappingsPerDevice: perDevice,
    sharedBeyondBitmap: shared,
    lastUsed,
    header,
  };
}
