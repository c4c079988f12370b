/**
 * What changed between two thin devices, in files: the block-level delta
 * (the virtual ranges mapped differently, or on one side only) handed to
 * the filesystem's own diff (src/fs/diff.ts), which reads through each
 * device's mappings only the blocks those ranges and their owners name.
 * Both devices must be whole: a damaged tree stops here with the doctor's
 * name, before anything is printed.
 */
import { ArgumentError, UsageError } from '../errors.js';
import { type FsDiff, diffFilesystems } from '../fs/diff.js';
import { FsError } from '../fs/errors.js';
import { validateTrees } from './damage.js';
import { DeltaStream, deltaRoots } from './delta/delta.js';
import { highestKey } from '../pdata/btree/traversal.js';
import { openPoolData } from './pool-data.js';
import type { ByteSource } from '../io/byte-source.js';
import { type MappedDeviceSource, ThinDeviceSource } from './device-source.js';
import { type ByteSpan, rawDeviceBytes } from './lost-holds.js';
import { forEachMapping } from './mapping-scan.js';
import { type Metadata, noSuchDevice } from './metadata.js';
import { RecoveredDeviceSource } from './recover/recovered-source.js';
import { scanDeleted } from './recover/scan-deleted.js';
import { type PoolSource, metadataName, openMetadata } from './pool-source.js';

export interface DiffSide {
  devId: number;
  /** For messages: "thin 2", "vg/lv", "container web". */
  name: string;
  /** Bytes, where LVM or Docker records it; else the filesystem's own size (at least what is mapped). */
  size?: number;
  /** How the user gave it, for messages ("--snap1", "--init"); default the raw diff's flag. */
  arg?: string;
}

/** A removed device compared as recovery brings it back. */
export interface RecoveredSide {
  deviceId: number;
  name: string;
  /** Mapped blocks the evidence vouches for: read from the data device. */
  vouchedBlocks: number;
  /** Mapped blocks reallocated since or of unknown fate: read as zeros, so changes there may be artefacts of the removal. */
  withheldBlocks: number;
}

export interface FileDiff extends FsDiff {
  /** The sides that are removed devices, read as recovery gives them. */
  recovered?: RecoveredSide[];
  /** Bytes the two devices map differently (the block-level delta). */
  changedBytes: number;
  /** Bytes read from the pool's data device for the file-level answer. */
  dataBytesRead: number;
}

export interface FileDiffOptions {
  /**
   * List only what lies under this directory, as paths from it: Docker's
   * devicemapper driver keeps a container's root in /rootfs of its device
   * (beside its own /id file), and docker diff lists paths from there.
   */
  under?: string;
}

export function fileDiff(source: PoolSource, before: DiffSide, after: DiffSide, options: FileDiffOptions = {}): FileDiff {
  if (source.data === undefined) {
    throw new UsageError(`${source.name}: the pool's data device is needed to read files (--data DATA)${source.dataProblem ? `: ${source.dataProblem}` : ''}`);
  }
  const md = openMetadata(source);
  try {
    const live = new Set(md.devices().map((d) => d.devId));
    const bs = md.dataBlockBytes();
    const data = openPoolData(source.data, md.superblock.dataSpaceMapRoot.nrBlocks, bs);
    try {
      let a: MappedDeviceSource;
      let b: MappedDeviceSource;
      let ranges: ByteSpan[];
      const recovered: RecoveredSide[] = [];
      if (live.has(before.devId) && live.has(after.devId)) {
        const roots = deltaRoots(md, before.devId, after.devId);
        validateTrees(md, [before.devId, after.devId]);
        ranges = deltaRanges(md, before.devId, after.devId, roots, bs);
        a = liveSide(md, data, before, roots[0]);
        b = liveSide(md, data, after, roots[1]);
      } else {
        // A removed device: what recovery brings back of it, compared mapping by mapping (no shared subtrees to skip).
        validateTrees(
          md,
          [before.devId, after.devId].filter((id) => live.has(id)),
        );
        const scan = scanDeleted(md.reader);
        const side = (s: DiffSide, flag: string): MappedDeviceSource => {
          if (live.has(s.devId)) return liveSide(md, data, s, deltaRoots(md, s.devId, s.devId)[0]);
          const dev = scan.devices.find((x) => x.devId === s.devId);
          if (!dev)
            // A thin id the user typed that names nothing: a usage error, as an unknown name is.
            throw new ArgumentError(
              noSuchDevice(
                s.devId,
                md.devices(),
                `${s.arg ?? flag}: `,
                scan.devices.map((x) => x.devId),
              ).message,
            );
          const top = dev.vblock.length ? dev.vblock[dev.vblock.length - 1] + 1 : 0;
          const open = (size: number) => new RecoveredDeviceSource(s.name, dev, data, bs, size);
          const src = open(s.size ?? rawDeviceBytes(open, top * bs));
          recovered.push({ deviceId: s.devId, name: s.name, vouchedBlocks: src.vblocks.length, withheldBlocks: src.withheld });
          return src;
        };
        a = side(before, '--snap1');
        b = side(after, '--snap2');
        ranges = listRanges(mappingList(a, md, before.devId), mappingList(b, md, after.devId), bs);
      }
      let r: FsDiff;
      try {
        r = diffFilesystems(a, b, ranges);
      } catch (e) {
        // No filesystem the diff reads: the block ranges are still an answer.
        if (e instanceof FsError && e.structure === 'filesystem') {
          const where = recovered.length
            ? `${recovered.map((x) => x.name).join(' and ')} read as recovery brings ${recovered.length > 1 ? 'them' : 'it'} back; export --deleted writes those bytes (docs/recovery.md)`
            : deltaCommand(source, before.devId, after.devId);
          throw new UsageError(`${e.message}; the ${ranges.length} block range(s) that differ: ${where}`);
        }
        throw e;
      }
      const under = options.under?.replace(/\/+$/, '');
      const changes = under ? r.changes.filter((c) => c.path.startsWith(`${under}/`)).map((c) => ({ ...c, path: c.path.slice(under.length) })) : r.changes;
      return {
        ...r,
        changes,
        changedBytes: ranges.reduce((n, x) => n + x.length, 0),
        dataBytesRead: a.dataBytesRead + b.dataBytesRead,
        ...(recovered.length ? { recovered } : {}),
      };
    } finally {
      if (data !== source.data) data.close();
    }
  } finally {
    md.close();
  }
}

/** A live device; a raw pool does not record its size (its dm table line does): the filesystem's own, or at least what is mapped. */
function liveSide(md: Metadata, data: ByteSource, s: DiffSide, root: number): ThinDeviceSource {
  const bs = md.dataBlockBytes();
  const open = (size: number) => new ThinDeviceSource(s.name, md.reader, root, data, bs, size);
  return open(s.size ?? rawDeviceBytes(open, (highestKey(md.reader, root, 8, { kind: 'mappings', devId: s.devId }) + 1) * bs));
}

/** The byte ranges two live devices map differently, from the delta that skips the subtrees they share. */
function deltaRanges(md: Metadata, left: number, right: number, roots: [number, number], bs: number): ByteSpan[] {
  const ranges: ByteSpan[] = [];
  const d = new DeltaStream(md, left, right, roots, { skipShared: true });
  while (d.next()) {
    if (d.kind === 'same') continue;
    addSpan(ranges, d.v * bs, d.n * bs);
  }
  return ranges;
}

interface MappingList {
  v: Float64Array;
  d: Float64Array;
}

/** A side's mappings in virtual block order: a recovered device's vouched-for ones, a live device's whole tree. */
function mappingList(src: MappedDeviceSource, md: Metadata, devId: number): MappingList {
  if (src instanceof RecoveredDeviceSource) return { v: src.vblocks, d: src.dataBlocks };
  const v: number[] = [];
  const d: number[] = [];
  forEachMapping(md.reader, (src as ThinDeviceSource).root, devId, (vb, db) => {
    v.push(vb);
    d.push(db);
  });
  return { v: Float64Array.from(v), d: Float64Array.from(d) };
}

/** Where two mapping lists differ: a block mapped on one side only, or to another data block. */
function listRanges(x: MappingList, y: MappingList, bs: number): ByteSpan[] {
  const out: ByteSpan[] = [];
  let i = 0;
  let j = 0;
  while (i < x.v.length || j < y.v.length) {
    const a = i < x.v.length ? x.v[i] : Infinity;
    const b = j < y.v.length ? y.v[j] : Infinity;
    if (a === b) {
      if (x.d[i] !== y.d[j]) addSpan(out, a * bs, bs);
      i++;
      j++;
    } else if (a < b) addSpan(out, x.v[i++] * bs, bs);
    else addSpan(out, y.v[j++] * bs, bs);
  }
  return out;
}

function addSpan(ranges: ByteSpan[], offset: number, length: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last.offset + last.length === offset) last.length += length;
  else ranges.push({ offset, length });
}

/** The delta verb for the same pool and devices, as the user would type it. */
function deltaCommand(source: PoolSource, a: number, b: number): string {
  const snaps = `--snap1 ${a} --snap2 ${b}`;
  if (source.kind === 'lvm' && source.doctorCommand?.startsWith('dmthin lvm doctor '))
    return `${source.doctorCommand.replace('dmthin lvm doctor ', 'dmthin lvm delta ')} ${snaps}`;
  return `dmthin delta ${snaps} ${metadataName(source)}`;
}
